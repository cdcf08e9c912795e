"""Recognizer end to end on rendered scenes (real detector + real OCR, LiteRT), and its switches."""

from __future__ import annotations

import numpy as np
import pytest

from firmware.recognition.config import RecognitionConfig
from firmware.recognition.evaluate import iou
from firmware.recognition.manifest import load_model_entry
from firmware.recognition.ocr import PlateOCR
from firmware.recognition.pipeline import Recognizer
from firmware.records import PlateCandidate
from firmware.synthetic.plate import degrade, random_plate_text, render_plate
from firmware.synthetic.scene import render_scene


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer.from_config(RecognitionConfig())


def quad_box(quad: np.ndarray) -> tuple[int, int, int, int]:
    x0, y0 = quad.min(axis=0)
    x1, y1 = quad.max(axis=0)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def test_reads_plates_in_rendered_scenes(recognizer):
    rng = np.random.default_rng(42)
    total = found = boxed = 0
    for _ in range(10):
        texts = [random_plate_text(rng) for _ in range(int(rng.integers(1, 3)))]
        image, plates = render_scene(rng, texts)
        candidates = recognizer.recognize(image)
        assert all(isinstance(c, PlateCandidate) for c in candidates)
        assert set(recognizer.last_timings_ms) >= {"detect", "ocr"}
        for text, quad in plates:
            total += 1
            hits = [c for c in candidates if c.text == text]
            found += bool(hits)
            boxed += any(iou(c.box, quad_box(quad)) >= 0.3 for c in hits)
        for c in candidates:
            assert len(c.char_confidences) == len(c.text)
            assert c.confidence >= recognizer.config.min_confidence
            assert 0.0 < c.detector_confidence <= 1.0
    assert found / total >= 0.8, (found, total)
    assert boxed == found


def test_night_ir_scene(recognizer):
    rng = np.random.default_rng(7)
    found = 0
    for _ in range(4):
        text = random_plate_text(rng)
        image, _ = render_scene(rng, [text], night=True)
        found += any(c.text == text for c in recognizer.recognize(image))
    assert found >= 3


def test_empty_frame_gives_nothing(recognizer):
    assert recognizer.recognize(np.zeros((720, 1280, 3), np.uint8)) == []


def test_hints_switch_off_changes_nothing_but_the_hints():
    """With hints off the Recognizer returns exactly the OCR's own greedy reading."""
    path, entry = load_model_entry(None, "ocr")
    ocr = PlateOCR(path, entry)
    on = Recognizer(None, ocr, RecognitionConfig(format_hints=True))
    off = Recognizer(None, ocr, RecognitionConfig(format_hints=False))
    rng = np.random.default_rng(5)
    differ = 0
    for _ in range(30):
        plate = degrade(render_plate(random_plate_text(rng), rng), rng, 0.8)
        h, w = plate.shape[:2]
        quad = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        t_on, _, _ = on.read_crop(plate, quad)
        t_off, c_off, _ = off.read_crop(plate, quad)
        assert len(t_on) == len(t_off)  # hints never add or drop characters
        assert len(c_off) == len(t_off)
        differ += t_on != t_off
    assert differ <= 10  # soft: most reads pass through unchanged


def test_config_bounds_are_enforced():
    with pytest.raises(ValueError):
        RecognitionConfig(crop_pad_x=0.9)
    with pytest.raises(ValueError):
        RecognitionConfig(threads=0)
    with pytest.raises(ValueError):
        RecognitionConfig(unknown_key=1)
