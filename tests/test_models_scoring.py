"""Pure parts of recognition: CTC decoding, format hints, eval scoring. No model needed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.recognition.evaluate import iou, load_dataset, normalise, parse_truth_line, score_image, summarise
from firmware.recognition.hints import ALPHABET, US_FORMATS, apply_hints
from firmware.recognition.ocr import ctc_greedy


def onehot_frames(seq: str, alphabet: str = ALPHABET, p: float = 0.9) -> np.ndarray:
    """Frames for a CTC path written with '-' as blank; the chosen class gets p."""
    k = len(alphabet) + 1
    out = np.full((len(seq), k), (1 - p) / (k - 1), np.float32)
    for t, c in enumerate(seq):
        out[t, 0 if c == "-" else alphabet.index(c) + 1] = p
    return out


# --- CTC -------------------------------------------------------------------------------------

@pytest.mark.parametrize("path,text", [
    ("--AB--C", "ABC"), ("AAB", "AB"), ("A-A", "AA"), ("----", ""), ("11-1", "11"), ("7", "7"), ("-0-O-", "0O"),
])
def test_ctc_collapses_repeats_and_blanks(path, text):
    assert ctc_greedy(onehot_frames(path), ALPHABET).text == text


def test_ctc_char_confidence_is_best_frame_of_its_run():
    probs = onehot_frames("AA-B")
    probs[0] = probs[0] * 0 + 0.01
    probs[0, ALPHABET.index("A") + 1] = 0.6
    probs[1] = probs[1] * 0 + 0.01
    probs[1, ALPHABET.index("A") + 1] = 0.8
    r = ctc_greedy(probs, ALPHABET)
    assert r.text == "AB"
    assert r.char_confidences[0] == pytest.approx(0.8)
    assert r.confidence == pytest.approx(0.8 * 0.9)
    assert r.char_probs.shape == (2, len(ALPHABET))
    np.testing.assert_allclose(r.char_probs.sum(axis=1), 1.0, rtol=1e-5)


def test_ctc_presence_is_one_minus_the_blank_at_the_characters_best_column():
    """A column split 0.6 character / 0.35 blank says 'maybe nothing here'; its row (blank removed) says the
    character at ~0.92 either way, so the presence is what keeps that doubt."""
    probs = onehot_frames("A-B")
    probs[2] = 0.05 / (len(ALPHABET) - 1)
    probs[2, ALPHABET.index("B") + 1] = 0.6
    probs[2, 0] = 0.35
    r = ctc_greedy(probs, ALPHABET)
    assert r.text == "AB"
    assert r.char_presence[1] == pytest.approx(0.65)
    assert r.char_presence[0] == pytest.approx(1 - probs[0, 0])
    assert r.char_probs[1].max() == pytest.approx(0.6 / 0.65, rel=1e-5)
    assert r.char_confidences[1] == pytest.approx(r.char_probs[1].max() * r.char_presence[1], rel=1e-5)


def test_ctc_presence_follows_the_column_its_confidence_came_from():
    probs = onehot_frames("BB")
    probs[0, 0], probs[0, ALPHABET.index("B") + 1] = 0.3, 0.6
    probs[1, 0], probs[1, ALPHABET.index("B") + 1] = 0.05, 0.85
    r = ctc_greedy(probs, ALPHABET)
    assert r.text == "B" and r.char_presence == (pytest.approx(0.95),)


@given(st.text(alphabet=ALPHABET + "-", min_size=0, max_size=30))
def test_ctc_text_never_longer_than_frames_and_in_alphabet(path):
    r = ctc_greedy(onehot_frames(path), ALPHABET)
    assert len(r.text) <= len(path)
    assert set(r.text) <= set(ALPHABET)
    assert len(r.char_confidences) == len(r.char_presence) == len(r.text)
    assert all(0.0 <= p <= 1.0 + 1e-6 for p in r.char_presence)
    # the reference collapse
    ref, prev = [], "-"
    for c in path:
        if c != "-" and c != prev:
            ref.append(c)
        prev = c
    assert r.text == "".join(ref)


# --- hints -----------------------------------------------------------------------------------

def char_rows(text: str, p: float = 0.9, alts: dict[int, tuple[str, float]] | None = None) -> np.ndarray:
    rows = np.full((len(text), len(ALPHABET)), 1e-4)
    for i, c in enumerate(text):
        rows[i, ALPHABET.index(c)] = p
        if alts and i in alts:
            rows[i, ALPHABET.index(alts[i][0])] = alts[i][1]
    return rows / rows.sum(axis=1, keepdims=True)


def test_hint_turns_letter_o_into_digit_in_a_digit_slot():
    r = apply_hints("ABC12O4", char_rows("ABC12O4", 0.55, {5: ("0", 0.4)}))
    assert r.text == "ABC1204" and r.changed == (5,) and r.pattern == "LLLDDDD"


def test_hint_turns_digit_into_letter_in_a_letter_slot():
    r = apply_hints("1AB0234", char_rows("1AB0234", 0.5, {3: ("C", 0.45)}))
    assert r.text == "1ABC234" and r.changed == (3,)


def test_hint_does_not_invent_characters_the_ocr_gave_no_chance():
    r = apply_hints("ABC12O4", char_rows("ABC12O4", 0.99))  # '0' has ~1e-4
    assert r.text == "ABC12O4" and r.changed == ()


def test_read_fitting_no_pattern_is_kept():
    r = apply_hints("ZZZZZZZZZ", char_rows("ZZZZZZZZZ"))
    assert r.text == "ZZZZZZZZZ" and r.pattern is None


def test_confident_read_beats_pattern_prior():
    # 'ABCD123' fits LLLLDDD; the OCR is sure of every character: nothing to change
    r = apply_hints("ABCD123", char_rows("ABCD123", 0.95, {3: ("0", 0.04)}))
    assert r.text == "ABCD123"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=ALPHABET, min_size=1, max_size=9), st.integers(0, 2**32 - 1))
def test_hints_keep_length_and_only_move_to_characters_with_real_probability(text, seed):
    rng = np.random.default_rng(seed)
    rows = rng.dirichlet(np.full(len(ALPHABET), 0.3), size=len(text))
    for i, c in enumerate(text):  # make the read the argmax, as CTC would
        rows[i, ALPHABET.index(c)] = rows[i].max() + 0.05
    rows = rows / rows.sum(axis=1, keepdims=True)
    r = apply_hints(text, rows, min_alt=0.05)
    assert len(r.text) == len(text)
    for i in r.changed:
        assert rows[i, ALPHABET.index(r.text[i])] >= 0.05
    assert r.changed == tuple(i for i in range(len(text)) if r.text[i] != text[i])
    if r.pattern is not None:
        assert len(r.pattern) == len(text) and r.pattern in US_FORMATS


# --- eval scoring ----------------------------------------------------------------------------

def test_normalise():
    assert normalise("ab-c 12·3") == "ABC123"


@pytest.mark.parametrize("a,b,expected", [
    ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),
    ((0, 0, 10, 10), (10, 10, 5, 5), 0.0),
    ((0, 0, 10, 10), (5, 0, 10, 10), 50 / 150),
    ((0, 0, 10, 10), (2, 2, 5, 5), 25 / 100),
    ((0, 0, 0, 0), (0, 0, 0, 0), 0.0),
])
def test_iou(a, b, expected):
    assert iou(a, b) == pytest.approx(expected)


def test_score_image_hand_made_cases():
    truth = (((100, 100, 80, 40), "ABC123"),)
    # exact read, overlapping box
    assert score_image([("abc-123", (105, 102, 80, 40))], truth) == {"correct": True, "detected": True, "false_reads": 0}
    # right box, wrong text: detected but a false read
    assert score_image([("ABC128", (100, 100, 80, 40))], truth) == {"correct": False, "detected": True, "false_reads": 1}
    # right text but the box elsewhere: correct (text rule) yet not detected (IoU rule)
    assert score_image([("ABC123", (400, 400, 80, 40))], truth) == {"correct": True, "detected": False, "false_reads": 0}
    # IoU just under and over 0.3
    assert not score_image([("X", (100 + 55, 100, 80, 40))], truth)["detected"]  # IoU 25/135 < 0.3
    assert score_image([("X", (100 + 40, 100, 80, 40))], truth)["detected"]  # IoU 40/120 > 0.3
    # nothing read
    assert score_image([], truth) == {"correct": False, "detected": False, "false_reads": 0}
    # one right, two wrong
    reads = [("ABC123", (100, 100, 80, 40)), ("SALE", (0, 0, 50, 20)), ("HONDA", (300, 0, 50, 20))]
    assert score_image(reads, truth)["false_reads"] == 2


def test_summarise():
    scores = [{"correct": True, "detected": True, "false_reads": 0},
              {"correct": False, "detected": True, "false_reads": 2},
              {"correct": False, "detected": False, "false_reads": 1},
              {"correct": True, "detected": True, "false_reads": 0}]
    s = summarise(scores, [10.0, 20.0, 30.0, 40.0])
    assert s["images"] == 4 and s["correct"] == 2 and s["accuracy"] == 0.5
    assert s["detected"] == 3 and s["detect_rate"] == 0.75
    assert s["false_reads_per_image"] == 0.75
    assert s["ms_median"] == 25.0 and 38 <= s["ms_p95"] <= 40
    assert set(s) == {"images", "correct", "accuracy", "detected", "detect_rate", "false_reads_per_image",
                      "ms_median", "ms_p95"}


def test_parse_truth_line_and_dataset(tmp_path):
    assert parse_truth_line("car.jpg\t10\t20\t30\t15\tab-12c") == ("car.jpg", (10, 20, 30, 15), "AB12C")
    assert parse_truth_line("") is None and parse_truth_line("# comment") is None
    with pytest.raises(ValueError):
        parse_truth_line("car.jpg 1 2 3")
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "a.txt").write_text("a.jpg\t1\t2\t3\t4\tABC123\n")
    (tmp_path / "b.jpg").write_bytes(b"x")
    (tmp_path / "b.txt").write_text("b.jpg 5 6 7 8 XYZ9\nb.jpg 50 60 70 80 QQ1\n")
    ds = load_dataset(tmp_path)
    assert [t.image.name for t in ds] == ["a.jpg", "b.jpg"]
    assert ds[1].plates == (((5, 6, 7, 8), "XYZ9"), ((50, 60, 70, 80), "QQ1"))


def test_free_reading_prefers_digit_zero_over_rare_letter_o_when_close():
    # 'ABCD1O5X' fits no format; O vs 0 nearly tied -> 0 (the letter prior), and the confidence
    # reported for it is the posterior under that prior, not the raw 0.42
    r = apply_hints("AB1O5XYZ", char_rows("AB1O5XYZ", 0.55, {3: ("0", 0.42)}))
    assert r.text == "AB105XYZ" and r.changed == (3,) and r.pattern is None
    assert r.char_confidences[3] > 0.6


def test_clear_letter_o_stays():
    r = apply_hints("AB1O5XYZ", char_rows("AB1O5XYZ", 0.95, {3: ("0", 0.04)}))
    assert r.text == "AB1O5XYZ"


# --- crop geometry ---------------------------------------------------------------------------

@given(st.floats(0, 500), st.floats(0, 500), st.floats(1, 400), st.floats(1, 200),
       st.floats(0, 0.4), st.floats(0, 0.4))
def test_grow_quad_on_rectangles(x, y, w, h, px, py):
    from firmware.recognition.ocr import box_quad, grow_quad

    q = grow_quad(box_quad((x, y, w, h)), px, py)
    np.testing.assert_allclose(q, [[x - px * w, y - py * h], [x + w + px * w, y - py * h],
                                   [x + w + px * w, y + h + py * h], [x - px * w, y + h + py * h]],
                               rtol=1e-4, atol=1e-2)


def test_grow_quad_follows_a_rotated_plate():
    from firmware.recognition.ocr import grow_quad

    a = np.deg2rad(30)
    u, v = np.array([np.cos(a), np.sin(a)]), np.array([-np.sin(a), np.cos(a)])
    tl = np.array([100.0, 100.0])
    quad = np.array([tl, tl + 200 * u, tl + 200 * u + 100 * v, tl + 100 * v], np.float32)
    g = grow_quad(quad, 0.1, 0.0)
    assert np.linalg.norm(g[1] - g[0]) == pytest.approx(240, rel=1e-4)  # 10% of the width each end
    assert np.linalg.norm(g[3] - g[0]) == pytest.approx(100, rel=1e-4)  # height untouched
    assert np.dot(g[1] - g[0], v) == pytest.approx(0, abs=1e-3)         # still along the plate's axis
