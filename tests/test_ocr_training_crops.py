"""The OCR's training crops (models/ocr/train_ocr.py): the runtime-cut crops and the dealer frames they use."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from firmware.synthetic.plate import ALPHABET, render_plate
from firmware.synthetic.scene import frame_plate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models" / "ocr"))
import train_ocr  # noqa: E402


def test_frame_plate_box_locates_the_plate_exactly():
    rng = np.random.default_rng(3)
    plate = render_plate("ABC1234", rng)
    framed, (x0, y0, x1, y1) = frame_plate(plate, rng, p=1.0)
    assert framed.shape[0] > plate.shape[0] and framed.shape[1] > plate.shape[1]
    assert np.array_equal(framed[int(y0):int(y1), int(x0):int(x1)], plate)
    same, box = frame_plate(plate, rng, p=0.0)
    assert same is plate and box == (0.0, 0.0, float(plate.shape[1]), float(plate.shape[0]))


def test_runtime_cut_crops_have_the_units_input_shape_and_are_seeded():
    a = [train_ocr.runtime_cut_sample(np.random.default_rng(11)) for _ in range(2)]
    assert np.array_equal(a[0][0], a[1][0]) and a[0][1] == a[1][1]
    rng = np.random.default_rng(12)
    for _ in range(20):
        crop, text = train_ocr.runtime_cut_sample(rng)
        assert crop.shape == (train_ocr.H, train_ocr.W, 3) and crop.dtype == np.uint8
        assert text and set(text) <= set(ALPHABET)
        assert crop.std() > 1.0  # something was drawn, not a blank border


def test_sample_mixes_in_runtime_cuts_only_when_asked():
    def cut_count(share: float) -> int:
        rng = np.random.default_rng(5)
        calls = []
        real = train_ocr.runtime_cut_sample
        train_ocr.runtime_cut_sample = lambda r: calls.append(1) or real(r)
        try:
            for _ in range(40):
                train_ocr.sample(rng, share)
        finally:
            train_ocr.runtime_cut_sample = real
        return len(calls)

    assert cut_count(0.0) == 0
    assert cut_count(1.0) == 40
    assert 8 <= cut_count(0.5) <= 32
