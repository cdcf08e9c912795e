"""Procedural plate typefaces: every character drawable in every face, and the variants that matter differ."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from firmware.synthetic.plate import ALPHABET, STROKE_FONTS, _glyph
from firmware.synthetic.stroke_font import font_params, stroke_glyph


@pytest.mark.parametrize("seed", range(0, STROKE_FONTS, 7))
def test_every_character_has_ink_and_plate_proportions(seed):
    for ch in ALPHABET:
        g = stroke_glyph(ch, seed)
        assert g.dtype == np.float32 and 0.0 <= g.min() and g.max() <= 1.0
        h, w = g.shape
        assert h > 100, (ch, seed)  # full cap height at the 160 px render
        if ch in "1I":  # may be a plain bar: all ink once cropped
            continue
        ink = float((g > 0.5).mean())
        assert 0.05 < ink < 0.75, (ch, seed, ink)  # a stroke, not a blob or an empty box
        if ch != "J":
            assert 0.3 < w / h < 0.9, (ch, seed, w / h)  # condensed, as plates are


def test_all_characters_differ_within_a_face():
    for seed in (0, 1, 2):
        masks = {ch: (cv2.resize(stroke_glyph(ch, seed), (24, 40)) > 0.5) for ch in ALPHABET}
        for a in ALPHABET:
            for b in ALPHABET:
                if a < b and {a, b} != {"0", "O"}:
                    assert (masks[a] != masks[b]).mean() > 0.02, (a, b, seed)


def test_faces_disagree_on_the_characters_states_disagree_on():
    params = [font_params(s) for s in range(STROKE_FONTS)]
    assert {p["open4"] for p in params} == {True, False}
    assert len({round(p["m_depth"], 2) for p in params}) > 10
    open4 = next(s for s, p in enumerate(params) if p["open4"])
    closed4 = next(s for s, p in enumerate(params) if not p["open4"])

    def top_left_ink(seed: int) -> float:  # ink along the top edge, left third
        g = stroke_glyph("4", seed)
        return float(g[: g.shape[0] // 8].mean(axis=0)[: g.shape[1] // 3].max())

    # a closed 4 has its apex at the top right; an open one has ink only at its top left
    assert top_left_ink(open4) > 0.5
    assert top_left_ink(closed4) < 0.5


def test_the_plate_renderer_draws_stroke_faces_and_blanks_what_they_lack():
    assert np.array_equal(_glyph("A", "stroke:3", 4), stroke_glyph("A", 3))
    assert not _glyph(".", "stroke:3", 4).any()  # punctuation in slogans: nothing drawn, no error
