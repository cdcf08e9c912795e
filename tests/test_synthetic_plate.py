"""The plate renderer: what the OCR learns from, so its switches must do what they say."""

from __future__ import annotations

import numpy as np

from firmware.synthetic.plate import _draw_text, random_plate_text, render_plate


def test_same_seed_same_plate_and_extras_change_only_when_asked():
    a = render_plate("ABC1234", np.random.default_rng(5), "white")
    b = render_plate("ABC1234", np.random.default_rng(5), "white")
    assert np.array_equal(a, b)
    extras = [render_plate("ABC1234", np.random.default_rng(s), "white", extras=True) for s in range(12)]
    plain = [render_plate("ABC1234", np.random.default_rng(s), "white") for s in range(12)]
    assert all(e.dtype == np.uint8 and e.ndim == 3 and 1.7 < e.shape[1] / e.shape[0] < 2.3 for e in extras)
    assert sum(not np.array_equal(e, p) for e, p in zip(extras, plain)) >= 6  # bolts, edge text, emblems


def test_shared_shapes_draw_the_digit_with_the_letters_glyph():
    font = "hershey:0"
    canvas = lambda: np.zeros((60, 60, 3), np.float32)  # noqa: E731
    zero_as_o, letter_o, plain_zero = canvas(), canvas(), canvas()
    _draw_text(zero_as_o, "0", (5, 5, 50, 50), (255, 255, 255), font, 4, shapes={"0": "O"})
    _draw_text(letter_o, "O", (5, 5, 50, 50), (255, 255, 255), font, 4)
    _draw_text(plain_zero, "0", (5, 5, 50, 50), (255, 255, 255), font, 4)
    assert np.array_equal(zero_as_o, letter_o)
    assert not np.array_equal(plain_zero, letter_o)


def test_plate_texts_are_plate_alphabet_and_rarely_use_i_o_q():
    rng = np.random.default_rng(0)
    texts = [random_plate_text(rng) for _ in range(3000)]
    assert all(t.isalnum() and t.isupper() or t.isdigit() for t in texts)
    letters = "".join(c for t in texts for c in t if c.isalpha())
    rare = sum(letters.count(c) for c in "IOQ") / len(letters)
    assert rare < 0.06  # 3/26 = 0.115 if they were drawn like the others
