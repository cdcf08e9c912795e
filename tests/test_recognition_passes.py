"""Rendered vehicle passes (passes.py): geometry of a pass, and the consensus score through the real pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from firmware.records import PlateCandidate
from firmware.recognition.passes import CONDITIONS, PassSpec, motion_blur, plate_widths, render_pass, score_pass


def test_a_closing_plate_grows_and_a_parked_one_does_not():
    fast, parked = plate_widths(150, 8), plate_widths(0, 8)
    assert all(b > a for a, b in zip(fast, fast[1:]) if b < fast[-1]) and fast[-1] > 3 * fast[0]
    assert max(parked) == min(parked) == pytest.approx(1500 * 0.305 / 12)
    assert max(plate_widths(150, 40)) == pytest.approx(1500 * 0.305 / 3)  # never nearer than 3 m


def test_motion_blur_smears_along_the_road_only():
    img = np.zeros((21, 21, 3), np.uint8)
    img[10, 10] = 255
    out = motion_blur(img, 5)
    assert (out[10, 8:13, 0] > 0).all() and out[9, 10, 0] == 0 and out[11, 10, 0] == 0
    assert motion_blur(img, 1) is img


@pytest.mark.parametrize("condition", CONDITIONS)
def test_render_pass_gives_the_frames_asked_for(condition):
    frames = render_pass(np.random.default_rng(1), PassSpec("7ABC123", condition, 90.0, 3), size=(180, 320))
    assert len(frames) == 3 and all(f.shape == (180, 320, 3) and f.dtype == np.uint8 for f in frames)
    assert not np.array_equal(frames[0], frames[-1])


class _Scripted:
    """A recogniser that returns a scripted text per frame (box fixed), to check the scoring alone."""

    def __init__(self, texts):
        self.texts = list(texts)

    def recognize(self, frame):
        text = self.texts.pop(0)
        return [PlateCandidate(text, 0.9, (0.9,) * len(text), (10, 10, 60, 20))] if text else []


def test_score_pass_votes_one_read_per_vehicle_and_counts_wrong_ones():
    frames = [np.zeros((4, 4, 3), np.uint8)] * 4
    assert score_pass(_Scripted(["7ABC123", "7ABC128", "7ABC123", ""]), frames, "7ABC123") == \
        {"right": True, "false_reads": 0, "reads": ["7ABC123"]}
    got = score_pass(_Scripted(["1XYZ999", "1XYZ999", "", ""]), frames, "7ABC123")
    assert got["right"] is False and got["false_reads"] == 1


def test_real_pipeline_reads_most_slow_day_passes():
    from firmware.recognition.config import RecognitionConfig
    from firmware.recognition.pipeline import Recognizer

    rec = Recognizer.from_config(RecognitionConfig())
    rng = np.random.default_rng(5)
    right = 0
    for text in ("7ABC123", "4WDE562", "KLM4821"):
        right += score_pass(rec, render_pass(rng, PassSpec(text, "day", 30.0, 4)), text)["right"]
    assert right >= 2
