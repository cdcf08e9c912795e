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
from tests.recognition_fakes import GivenDetections, ScriptedOCR


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


# --- early stop: detections read best first, the rest skipped once a confident plate is read ---

from hypothesis import given, strategies as st  # noqa: E402

from firmware.recognition.detector import Detection  # noqa: E402
from firmware.recognition.pipeline import should_read  # noqa: E402


@given(score=st.floats(0, 1), found=st.booleans(), early=st.booleans(),
       floor=st.floats(0, 1), above=st.floats(0, 1))
def test_should_read_rules(score, found, early, floor, above):
    cfg = RecognitionConfig(min_detector_score=floor, read_all_above=above, early_stop=early)
    got = should_read(score, found, cfg)
    if score < floor:
        assert not got  # below the floor nothing is read
    elif not found or not early:
        assert got  # before a confident read (or with early stop off) everything above the floor is read
    else:
        assert got == (score >= above)


# The early-stop tests count crops per detection: the second look (its own tests below) is off there.


def _ocr() -> PlateOCR:
    path, entry = load_model_entry(None, "ocr")
    return PlateOCR(path, entry)


def test_early_stop_skips_weaker_detections_after_a_confident_read():
    ocr = _ocr()
    rng = np.random.default_rng(7)
    image, plates = render_scene(rng, ["7ABC123"])
    quad = np.asarray(plates[0][1], np.float32)
    h = image.shape[0]
    dets = [Detection(quad_box(quad), 0.8, quad)] + [
        Detection((40 + 200 * k, h - 70, 100, 50), 0.7 - 0.1 * k, None) for k in range(3)]
    fast = Recognizer(GivenDetections(dets), ocr, RecognitionConfig(second_look_below=0.0))
    slow = Recognizer(GivenDetections(dets), ocr, RecognitionConfig(early_stop=False, second_look_below=0.0))
    got_fast, got_slow = fast.recognize(image), slow.recognize(image)
    assert "7ABC123" in [c.text for c in got_slow]
    assert [c.text for c in got_fast] == ["7ABC123"]
    assert fast.last_timings_ms["crops"] == 1 and slow.last_timings_ms["crops"] == 4


def test_early_stop_still_reads_every_plate_the_detector_is_sure_of():
    ocr = _ocr()
    rng = np.random.default_rng(8)
    texts = ["4KXM822", "ABC1234"]
    image, plates = render_scene(rng, texts)
    quads = [np.asarray(q, np.float32) for _, q in plates]
    h = image.shape[0]
    dets = [Detection(quad_box(q), 0.97 - 0.02 * i, q) for i, q in enumerate(quads)]
    dets.append(Detection((30, h - 70, 100, 50), 0.6, None))  # a weak decoy: skipped
    rec = Recognizer(GivenDetections(dets), ocr, RecognitionConfig(second_look_below=0.0))
    got = {c.text for c in rec.recognize(image)}
    assert rec.last_timings_ms["crops"] == 2
    truth = set(texts)
    assert len(got & truth) == 2, (got, truth)


SHARED_US = __import__("pathlib").Path(__file__).resolve().parents[1].parent / "shared" / "data" / "plates" / "openalpr-us-dev"


@pytest.mark.skipif(not SHARED_US.is_dir(), reason="../shared real photos not present")
def test_early_stop_on_real_photos_keeps_the_reads_and_reads_far_fewer_crops():
    import cv2

    from firmware.recognition.evaluate import load_dataset, normalise

    dataset = load_dataset(SHARED_US)[::3]  # every third photo: ~47, a few seconds
    det = Recognizer.from_config(RecognitionConfig(second_look_below=0.0)).detector
    ocr = _ocr()
    fast = Recognizer(det, ocr, RecognitionConfig(second_look_below=0.0))
    slow = Recognizer(det, ocr, RecognitionConfig(early_stop=False, second_look_below=0.0))
    counts = {"fast": [0, 0], "slow": [0, 0]}
    for truth in dataset:
        image = cv2.imread(str(truth.image), cv2.IMREAD_COLOR)
        plates = {p for _, p in truth.plates}
        for name, rec in (("fast", fast), ("slow", slow)):
            got = rec.recognize(image)
            counts[name][0] += any(normalise(c.text) in plates for c in got)
            counts[name][1] += rec.last_timings_ms["crops"]
    assert counts["fast"][0] >= counts["slow"][0] - 1, counts  # at most one photo lost to stopping early
    assert counts["fast"][1] <= 0.6 * counts["slow"][1], counts


def test_two_plates_the_detector_is_unsure_of_take_turns_over_frames():
    ocr = _ocr()
    rng = np.random.default_rng(8)
    texts = ["4KXM822", "ABC1234"]
    image, plates = render_scene(rng, texts)
    dets = [Detection(quad_box(np.asarray(q, np.float32)), s, np.asarray(q, np.float32))
            for (_, q), s in zip(plates, (0.85, 0.8))]
    rec = Recognizer(GivenDetections(dets), ocr, RecognitionConfig(second_look_below=0.0))
    frames = [{c.text for c in rec.recognize(image)} for _ in range(4)]
    assert all(len(f) == 1 for f in frames)  # one crop per frame: the other plate is below read_all_above
    assert frames[0] == frames[2] and frames[1] == frames[3] and frames[0] != frames[1]
    assert frames[0] | frames[1] == set(texts)
    assert rec.last_timings_ms["crops"] == 1


def test_visit_order_sends_the_plate_read_last_frame_to_the_back():
    from firmware.recognition.pipeline import visit_order

    cfg = RecognitionConfig(min_detector_score=0.4)
    a, b, c, low = (Detection((0, 0, 100, 50), 0.9), Detection((300, 0, 100, 50), 0.8),
                    Detection((600, 0, 100, 50), 0.7), Detection((900, 0, 100, 50), 0.3))
    assert visit_order([c, low, a, b], cfg) == [a, b, c]
    assert visit_order([c, low, a, b], cfg, [(5, 2, 100, 50)]) == [b, c, a]
    assert visit_order([c, a, b], cfg, [(5, 2, 100, 50), (600, 0, 100, 50)]) == [b, a, c]
    assert visit_order([c, a, b], cfg, [(2000, 0, 10, 10)]) == [a, b, c]


def _one_tilted_plate():
    image = np.random.default_rng(3).integers(0, 256, (200, 400, 3), dtype=np.uint8)
    quad = np.array([[100, 80], [300, 70], [302, 130], [102, 140]], np.float32)
    return image, Detection(quad_box(quad), 0.95, quad)


def test_second_look_keeps_the_most_confident_of_differently_cut_crops():
    image, det = _one_tilted_plate()
    ocr = ScriptedOCR([("WABC123", 0.45), ("ABC123", 0.93), ("ABC12", 0.7), ("WABC1234", 0.4)])
    rec = Recognizer(GivenDetections([det]), ocr, RecognitionConfig(second_look_pads=[0.03, 0.22]))
    got = rec.recognize(image)
    assert [c.text for c in got] == ["ABC123"]
    assert rec.last_timings_ms["crops"] == 4 and not ocr.answers  # quad, box, two margins
    assert not np.array_equal(ocr.crops[0], ocr.crops[1])  # the crops really were cut differently


def test_second_look_costs_nothing_when_the_first_read_is_sure_or_it_is_off():
    image, det = _one_tilted_plate()
    sure = ScriptedOCR([("ABC123", 0.95)])
    rec = Recognizer(GivenDetections([det]), sure, RecognitionConfig(second_look_below=0.9))
    assert [c.text for c in rec.recognize(image)] == ["ABC123"] and rec.last_timings_ms["crops"] == 1
    off = ScriptedOCR([("ABC123", 0.6)])
    rec = Recognizer(GivenDetections([det]), off, RecognitionConfig(second_look_below=0.0))
    assert [c.text for c in rec.recognize(image)] == ["ABC123"] and rec.last_timings_ms["crops"] == 1


def test_second_look_skips_short_reads_and_is_bounded_per_frame():
    image, det = _one_tilted_plate()
    short = ScriptedOCR([("AB", 0.3)])  # a badge or tail light: not worth three more crops
    rec = Recognizer(GivenDetections([det]), short, RecognitionConfig())
    rec.recognize(image)
    assert rec.last_timings_ms["crops"] == 1
    dets = [Detection(det.box, 0.95 - 0.01 * k, det.quad) for k in range(3)]
    unsure = ScriptedOCR([("ABC123", 0.3)] * 12)
    rec = Recognizer(GivenDetections(dets), unsure,
                     RecognitionConfig(second_look_max_per_frame=2, min_confidence=0.9, early_stop=False))
    rec.recognize(image)
    assert rec.last_timings_ms["crops"] == 4 + 4 + 1  # two detections looked at again, the third not
