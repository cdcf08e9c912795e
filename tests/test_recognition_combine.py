"""The two-reader combination (combine.py) and the gate that decides when to ask the second reader.

Pure functions over plain arrays: every case below is built by hand, and the properties run over
generated inputs, so no model is needed here (tests/test_models_cct.py has the real one).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.recognition.combine import combine, combine_doubting, doubt_first, kept_presence, sequence_confidence, slot_rows, temper
from firmware.recognition.pipeline import needs_second_reader

AL = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
N = len(AL)


def rows_for(text: str, conf: float = 0.9, alt: dict[int, tuple[str, float]] | None = None) -> np.ndarray:
    """CTC-reader rows: each character `conf`, the rest spread evenly (or given to one alternative)."""
    rows = np.full((len(text), N), 0.0)
    for i, c in enumerate(text):
        p = conf
        rows[i, AL.index(c)] = p
        if alt and i in alt:
            ch, q = alt[i]
            rows[i, AL.index(ch)] = q
            p += q
        rest = [k for k in range(N) if rows[i, k] == 0]
        rows[i, rest] = (1 - p) / len(rest)
    return rows


def slots_for(text: str, conf: float = 0.9, slots: int = 9, empty_conf: float = 0.99,
              alt: dict[int, tuple[str, float]] | None = None) -> np.ndarray:
    """Slot-reader output: `text` in the first slots, the empty class (index N) after it."""
    out = np.zeros((slots, N + 1))
    for i in range(slots):
        if i < len(text):
            out[i, AL.index(text[i])] = conf
            if alt and i in alt:
                out[i, AL.index(alt[i][0])] = alt[i][1]
        else:
            out[i, N] = empty_conf
        rest = out[i] == 0
        out[i, rest] = (1 - out[i].sum()) / rest.sum()
    return out


# --- temperature scaling ---------------------------------------------------------------------------

@pytest.mark.parametrize("t", [0.3, 0.5, 1.0, 1.55, 2.0, 4.0])
def test_temper_keeps_the_ranking_and_sums_to_one(t):
    rng = np.random.default_rng(int(t * 100))
    p = rng.dirichlet(np.ones(N), size=7)
    q = temper(p, t)
    assert np.allclose(q.sum(axis=1), 1.0)
    assert (q.argmax(axis=1) == p.argmax(axis=1)).all()
    if t == 1.0:
        assert np.allclose(q, p, atol=1e-6)
    elif t > 1:
        assert (q.max(axis=1) < p.max(axis=1)).all()  # softer
    else:
        assert (q.max(axis=1) > p.max(axis=1)).all()  # sharper


def test_temper_of_no_rows_is_no_rows():
    assert temper(np.zeros((0, N)), 1.5).shape == (0, N)


# --- slot decoding ---------------------------------------------------------------------------------

def test_slot_rows_keep_filled_slots_in_order_and_drop_the_empty_class():
    rows, empty = slot_rows(slots_for("7ABC123"), N)
    assert rows.shape == (7, N)
    assert "".join(AL[k] for k in rows.argmax(1)) == "7ABC123"
    assert np.allclose(rows.sum(1), 1.0)
    assert empty.shape == (9,) and (empty[7:] > 0.9).all() and (empty[:7] < 0.1).all()


def test_sequence_confidence_counts_characters_and_empty_slots():
    rows, empty = slot_rows(slots_for("ABC123", conf=0.9, empty_conf=0.5), N)
    with_empties = sequence_confidence(rows, empty)
    assert with_empties == pytest.approx(sequence_confidence(rows) * 0.5 ** 3)
    assert sequence_confidence(np.zeros((0, N))) == 0.0


# --- combination -----------------------------------------------------------------------------------

def test_agreeing_readers_keep_the_text_and_are_surer_than_either():
    first, second = rows_for("ABC1234", 0.8), slots_for("ABC1234", 0.6)
    got = combine(first, second, AL)
    assert got.text == "ABC1234" and got.source == "pooled"
    b, _ = slot_rows(second, N)
    for i, c in enumerate(got.char_confidences):
        k = AL.index("ABC1234"[i])
        want = first[i, k] * b[i, k] / float((first[i] * b[i]).sum())
        assert c == pytest.approx(want, rel=1e-4)
        assert c > 0.8  # two agreeing readers: surer than the surer one


@pytest.mark.parametrize("pos", range(7))
def test_the_surer_reader_wins_each_disagreeing_position(pos):
    truth = "383WJP1"
    wrong = {"W": "M", "3": "8", "8": "B", "J": "U", "P": "R", "1": "I"}[truth[pos]]
    first_text = truth[:pos] + wrong + truth[pos + 1:]
    # ours unsure at that one position (true character second), the slot reader sure of the truth
    first = rows_for(first_text, 0.9, alt={pos: (truth[pos], 0.08)})
    first[pos] = 0
    first[pos, AL.index(wrong)] = 0.55
    first[pos, AL.index(truth[pos])] = 0.40
    first[pos, first[pos] == 0] = 0.05 / (N - 2)
    got = combine(first, slots_for(truth, 0.95), AL)
    assert got.text == truth and got.source == "pooled"
    # and the other way round: a sure first reader is not overruled by an unsure second
    second = slots_for(first_text, 0.45, alt={pos: (truth[pos], 0.40)})
    got = combine(rows_for(truth, 0.97), second, AL)
    assert got.text == truth


def test_pooled_characters_are_the_argmax_of_the_product_of_calibrated_rows():
    rng = np.random.default_rng(5)
    for _ in range(200):
        n = int(rng.integers(1, 9))
        a = rng.dirichlet(np.ones(N) * 0.3, size=n)
        b = np.zeros((9, N + 1))
        b[:n, :N] = rng.dirichlet(np.ones(N) * 0.3, size=n) * 0.999
        b[:n, N] = 0.001
        b[n:, N] = 1.0
        b = b / b.sum(1, keepdims=True)
        ta, tb = float(rng.uniform(0.5, 2)), float(rng.uniform(0.5, 2))
        got = combine(a, b, AL, ta, tb)
        ra = temper(a, ta)
        rb, _ = slot_rows(temper(b, tb), N)
        want = "".join(AL[k] for k in (np.log(np.maximum(ra, 1e-9)) + np.log(np.maximum(rb, 1e-9))).argmax(1))
        assert got.source == "pooled" and got.text == want
        assert np.allclose(got.char_probs.sum(1), 1.0, atol=1e-5)
        assert all(0 < c <= 1 for c in got.char_confidences)


@pytest.mark.parametrize("first_conf,second_conf,expect", [
    (0.95, 0.6, "first"), (0.6, 0.95, "second"), (0.9, 0.9, "first"),
])
def test_different_lengths_keep_the_read_with_the_higher_sequence_confidence(first_conf, second_conf, expect):
    got = combine(rows_for("ZRULZ", first_conf), slots_for("FZRULZ", second_conf), AL)
    # 5 characters at first_conf against 6 at second_conf times 3 sure empty slots
    assert got.source == expect
    assert got.text == ("ZRULZ" if expect == "first" else "FZRULZ")


def test_an_empty_first_read_takes_the_second_and_an_empty_second_keeps_the_first():
    got = combine(np.zeros((0, N)), slots_for("ABC123"), AL)
    assert (got.text, got.source) == ("ABC123", "second")
    got = combine(rows_for("ABC123"), slots_for(""), AL)
    assert (got.text, got.source) == ("ABC123", "first")
    got = combine(np.zeros((0, N)), slots_for(""), AL)
    assert got.text == "" and got.char_confidences == ()


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=AL, min_size=0, max_size=8), st.text(alphabet=AL, min_size=0, max_size=9),
       st.floats(0.2, 0.99), st.floats(0.2, 0.99), st.floats(0.3, 3.0), st.floats(0.3, 3.0))
def test_combination_is_always_one_of_the_readings_or_a_per_position_mix(a_text, b_text, ca, cb, ta, tb):
    got = combine(rows_for(a_text, ca), slots_for(b_text, cb), AL, ta, tb)
    assert len(got.text) == len(got.char_confidences) == got.char_probs.shape[0]
    if got.source == "pooled":
        assert len(a_text) == len(b_text)
        assert all(g in (x, y) for g, x, y in zip(got.text, a_text, b_text))
    elif got.source == "first":
        assert got.text == a_text
    else:
        assert got.text == b_text


# --- our reader's known slips (doubt_first) -------------------------------------------------------

SHIPPED_T = (0.95, 1.55)  # models/cct/manifest_entry.json calibration at the time of writing


def test_a_doubted_character_gives_the_shown_one_the_same_probability():
    rows = rows_for("4FCM533", 0.97, alt={3: ("W", 0.01)})
    got = doubt_first(rows, AL, ["MW"])
    assert np.allclose(got.sum(axis=1), 1.0)
    assert got[3, AL.index("W")] == pytest.approx(got[3, AL.index("M")])
    assert got[3, AL.index("M")] > got[3, AL.index("H")]         # the rest keep their order
    for i in (0, 1, 2, 4, 5, 6):                                    # rows reading no M are untouched
        assert np.allclose(got[i], rows[i])


def test_only_the_named_direction_is_doubted():
    rows = rows_for("4FCW533", 0.97, alt={3: ("M", 0.01)})
    assert np.allclose(doubt_first(rows, AL, ["MW"]), rows)       # our W stays evidence against M
    assert np.allclose(doubt_first(rows, AL, []), rows)
    assert doubt_first(np.zeros((0, N)), AL, ["MW"]).shape == (0, N)


def test_the_second_reader_decides_between_a_doubted_pair():
    """Ours M at 0.97, the CCT W at 0.8 (the 4FCW533 kind): pooled as read, M wins; doubted, the CCT's W."""
    ours = rows_for("4FCM533", 0.97, alt={3: ("W", 0.01)})
    cct = slots_for("4FCW533", 0.95, alt={3: ("M", 0.15)})
    cct[3, AL.index("W")] = 0.8
    cct[3] /= cct[3].sum()
    assert combine(ours, cct, AL, *SHIPPED_T).text == "4FCM533"
    assert combine(doubt_first(ours, AL, ["MW"]), cct, AL, *SHIPPED_T).text == "4FCW533"
    assert combine_doubting(ours, cct, AL, *SHIPPED_T, doubts=["MW"]).text == "4FCW533"
    agree = slots_for("4FCM533", 0.9)                                 # both read M: M stays
    assert combine(doubt_first(ours, AL, ["MW"]), agree, AL, *SHIPPED_T).text == "4FCM533"


def test_a_doubt_never_lowers_the_confidence_of_a_read_it_leaves_as_it_was():
    """The CCT unsure between M and W: doubted, the pooled M is far less sure (a right read could fall under
    min_confidence); the doubt only decides, so the plain combination stands, confidences and all."""
    ours = rows_for("4FCM533", 0.97, alt={3: ("W", 0.01)})
    cct = slots_for("4FCM533", 0.5, alt={3: ("W", 0.4)})
    plain = combine(ours, cct, AL, *SHIPPED_T)
    doubted_rows = combine(doubt_first(ours, AL, ["MW"]), cct, AL, *SHIPPED_T)
    assert doubted_rows.text == plain.text == "4FCM533"
    assert doubted_rows.char_confidences[3] < plain.char_confidences[3] - 0.2
    got = combine_doubting(ours, cct, AL, *SHIPPED_T, doubts=["MW"])
    assert got.text == plain.text and got.char_confidences == plain.char_confidences
    assert combine_doubting(ours, cct, AL, *SHIPPED_T, doubts=[]).char_confidences == plain.char_confidences


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=AL, min_size=1, max_size=8), st.text(alphabet=AL, min_size=0, max_size=9),
       st.floats(0.2, 0.99), st.floats(0.2, 0.99), st.sampled_from(["MW", "HW", "29", "EF"]))
def test_a_doubt_changes_only_positions_where_ours_read_the_doubted_character(a_text, b_text, ca, cb, doubt):
    ours, cct = rows_for(a_text, ca), slots_for(b_text, cb)
    plain = combine(ours, cct, AL, *SHIPPED_T)
    doubted = combine_doubting(ours, cct, AL, *SHIPPED_T, doubts=[doubt])
    if doubted.text == plain.text:
        assert doubted.char_confidences == plain.char_confidences
    if doubt[0] not in a_text:
        assert doubted.text == plain.text
    elif doubted.source == plain.source == "pooled":
        for i, (x, y) in enumerate(zip(plain.text, doubted.text)):
            if x != y:
                assert a_text[i] == doubt[0] and y == doubt[1] == b_text[i]


@pytest.mark.parametrize("bad", ["M", "MWX", "MM", "mW", "M-"])
def test_a_doubt_must_be_two_different_plate_characters(bad):
    from pydantic import ValidationError

    from firmware.recognition.config import RecognitionConfig

    with pytest.raises(ValidationError, match="two different characters"):
        RecognitionConfig(second_reader_doubts=[bad])
    assert RecognitionConfig().second_reader_doubts == ["MW"]


# --- when the second reader is asked ---------------------------------------------------------------

@pytest.mark.parametrize("text,confs,below,expect", [
    ("", (), 0.95, True),                                  # nothing read: the second reader may find it
    ("ABC1234", (0.99,) * 7, 0.95, False),                  # sure and plate-shaped: no ask
    ("ABC1234", (0.99,) * 6 + (0.9,), 0.95, True),          # one unsure character
    ("ABC1234", (0.99,) * 6 + (0.9,), 0.85, False),
    ("CCLVN3", (0.99,) * 6, 0.95, True),                    # fits no US serial format (vanity)
    ("AB", (0.99,) * 2, 0.95, True),
    ("7ABC123", (0.96,) * 7, 0.95, False),
    ("7ABC123", (0.96,) * 7, 1.0, True),                    # 1 asks on every crop
    ("7ABC123", (0.01,) * 7, 0.0, False),                   # 0: only empty or format-less reads
])
def test_needs_second_reader(text, confs, below, expect):
    assert needs_second_reader(text, confs, below) is expect


def test_every_format_shape_with_sure_characters_is_left_alone():
    from firmware.recognition.hints import US_FORMATS

    for pattern in US_FORMATS:
        text = "".join("7" if k == "D" else "K" for k in pattern)
        assert needs_second_reader(text, (0.99,) * len(text), 0.95) is False
    for n in range(1, 9):
        for shape in itertools.product("LD", repeat=n):
            pattern = "".join(shape)
            text = "".join("7" if k == "D" else "K" for k in pattern)
            assert needs_second_reader(text, (0.99,) * n, 0.95) is (pattern not in US_FORMATS)


# --- the seam: the Recognizer passes its config's doubts to the combination ----------------------

class _RowsOCR:
    """Our OCR's stand-in: always the same read, with its probability rows."""

    input_h, input_w, alphabet = 48, 128, AL

    def __init__(self, text, rows):
        self.text, self.rows = text, rows

    def read(self, crop):
        from firmware.recognition.ocr import OcrResult

        confs = tuple(float(r.max()) for r in self.rows)
        return OcrResult(self.text, confs, float(np.prod(confs)), self.rows)


class _SlotReader:
    """The second reader's stand-in, with the shipped calibration in its manifest entry."""

    input_h, input_w = 64, 128
    entry = {"calibration": {"t_ocr": SHIPPED_T[0], "t_cct": SHIPPED_T[1]}}

    def __init__(self, slots):
        self.slots = slots

    def read(self, crop):
        from firmware.recognition.slot_ocr import SlotRead, decode_slots

        return SlotRead(decode_slots(self.slots, AL), self.slots)


@pytest.mark.parametrize("doubts,expect", [(None, "4FCW533"), (["MW"], "4FCW533"), ([], "4FCM533")])
def test_the_recognizer_combines_with_its_configured_doubts(doubts, expect):
    from firmware.recognition.config import RecognitionConfig
    from firmware.recognition.ocr import box_quad
    from firmware.recognition.pipeline import Recognizer

    cct = slots_for("4FCW533", 0.95, alt={3: ("M", 0.15)})
    cct[3, AL.index("W")] = 0.8
    cct[3] /= cct[3].sum()
    ours = _RowsOCR("4FCM533", rows_for("4FCM533", 0.97, alt={3: ("W", 0.01)}))
    cfg = RecognitionConfig(format_hints=False, **({} if doubts is None else {"second_reader_doubts": doubts}))
    rec = Recognizer(detector=None, ocr=ours, config=cfg, second=_SlotReader(cct))
    text, confs, conf = rec.read_crop(np.full((60, 200, 3), 128, np.uint8), box_quad((20, 10, 160, 40)))
    assert text == expect and rec.second_asks == 1
    assert len(confs) == 7 and conf == pytest.approx(float(np.prod(confs)))



# --- presence: how sure the kept reader is that each character is there at all ---------------------

def test_kept_presence_is_ours_for_our_characters_and_the_slots_for_the_cct():
    ours = rows_for("ABC123", 0.9)
    pooled = combine(ours, slots_for("ABC123", 0.9), AL)
    assert pooled.source == "pooled"
    assert kept_presence(pooled, (0.9, 0.8, 1.0, 1.0, 1.0, 0.7)) == (0.9, 0.8, 1.0, 1.0, 1.0, 0.7)
    first = combine(ours, slots_for("ABC1234", 0.3), AL)
    assert first.source == "first"
    assert kept_presence(first, (0.5,) * 6) == (0.5,) * 6
    assert kept_presence(first, None) == (1.0,) * 6          # a reader without presence
    cct = slots_for("ABC1234", 0.9)
    cct[6, N] = 0.3                                                   # the 7th slot may be empty
    cct[6] /= cct[6].sum()
    second = combine(rows_for("AB", 0.3), cct, AL)
    assert second.source == "second" and second.text == "ABC1234"
    got = kept_presence(second, (1.0, 1.0))
    assert len(got) == 7 and got[6] == pytest.approx(1 - cct[6, N])
    assert got[6] < min(got[:6])
    hotter = combine(rows_for("AB", 0.3), cct, AL, 1.0, 1.2)             # presence of the calibrated slots
    assert hotter.source == "second"
    tempered = kept_presence(hotter, None)
    assert tempered[6] == pytest.approx(1 - temper(cct, 1.2)[6, N])


@pytest.mark.parametrize("presence,expect_kept", [(None, True), ((1.0,) * 3, True), ((0.7, 0.7, 0.7), False)])
def test_the_recognizer_keeps_a_characters_doubt_that_it_is_there(presence, expect_kept):
    """A grille's bars read '112': the rows say '1' surely, the columns that a character may not be there
    at all. Kept confidences are the rows' times the presence, so such a read falls under min_confidence."""
    from firmware.recognition.config import RecognitionConfig
    from firmware.recognition.ocr import OcrResult, box_quad
    from firmware.recognition.pipeline import Recognizer

    class JunkOCR(_RowsOCR):
        def read(self, crop):
            confs = tuple(float(r.max()) for r in self.rows)
            return OcrResult(self.text, confs, float(np.prod(confs)), self.rows, presence)

    cct = slots_for("11111111", 0.4)                                      # the CCT disagrees on length
    rec = Recognizer(detector=None, ocr=JunkOCR("112", rows_for("112", 0.95)),
                     config=RecognitionConfig(format_hints=False), second=_SlotReader(cct))
    text, confs, conf = rec.read_crop(np.full((60, 200, 3), 128, np.uint8), box_quad((20, 10, 160, 40)))
    assert text == "112" and len(confs) == 3
    assert (conf >= rec.config.min_confidence) is expect_kept
    if presence is not None:
        plain = [c / p for c, p in zip(confs, presence)]
        assert conf == pytest.approx(float(np.prod(plain)) * float(np.prod(presence)))
