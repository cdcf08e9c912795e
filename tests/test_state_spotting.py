"""Keyword spotting of state words in CTC column probabilities (firmware/recognition/state_spotting.py)."""

from __future__ import annotations

import numpy as np
import pytest

from firmware.recognition.state_names import STATE_WORDS
from firmware.recognition.state_spotting import LEXICON, build_lexicon, fold, spot, spotted_matches

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz .-',"


def columns(text: str, T: int = 40, conf: float = 0.9, soft: dict | None = None) -> np.ndarray:
    """Probabilities whose greedy path spells `text` (each character then a blank); `soft` puts, at the
    column of character i, probability q on another class: {i: (char, q)}."""
    p = np.full((T, 1 + len(ALPHABET)), (1 - conf) / len(ALPHABET))
    cols = []
    for ch in text:
        cols += [1 + ALPHABET.index(ch), 0]
    cols = (cols + [0] * T)[:T]
    for t, k in enumerate(cols):
        p[t, k] = conf
    for i, (ch, q) in (soft or {}).items():
        p[2 * i, 1 + ALPHABET.index(ch)] = q
    return p / p.sum(axis=1, keepdims=True)


def _ratio(text, phrase, **kw):
    r = spot(fold(columns(text, **kw), ALPHABET))
    return float(r[LEXICON.phrases.index(phrase)])


def test_fold_merges_case_and_sends_spaces_and_punctuation_to_the_blank():
    p = np.zeros((1, 1 + len(ALPHABET)))
    p[0, 1 + ALPHABET.index("a")] = 0.3
    p[0, 1 + ALPHABET.index("A")] = 0.3
    p[0, 1 + ALPHABET.index(" ")] = 0.2
    p[0, 1 + ALPHABET.index("'")] = 0.1
    p[0, 0] = 0.1
    f = np.exp(fold(p, ALPHABET))
    assert f[0, 1] == pytest.approx(0.6) and f[0, 0] == pytest.approx(0.4) and f.shape == (1, 37)


def test_lexicon_leaves_out_short_words_and_keeps_every_longer_one():
    assert "OHIO" not in LEXICON.phrases and "UTAH" not in LEXICON.phrases
    assert "CALIFORNIA" in LEXICON.phrases and "THE LONE STAR STATE" in LEXICON.phrases
    expected = sum(1 for p, _ in STATE_WORDS if sum(c.isalnum() for c in p) >= 5)
    assert len(LEXICON.phrases) == expected
    assert build_lexicon(min_letters=4).phrases.count("OHIO") == 1


@pytest.mark.parametrize("text,phrase", [("California", "CALIFORNIA"), ("SEP California 2012", "CALIFORNIA"),
                                          ("TEXAS", "TEXAS"), ("Land of Lincoln", "LAND OF LINCOLN")])
def test_a_word_the_greedy_path_spells_scores_one(text, phrase):
    assert _ratio(text, phrase) == pytest.approx(1.0)


def test_a_word_the_columns_nearly_spell_scores_between_and_unrelated_text_near_zero():
    near = _ratio("Califomia", "CALIFORNIA", soft={6: ("r", 0.3)})   # r second-best where m won
    assert 0.3 < near < 1.0
    assert _ratio("Califomia", "CALIFORNIA") < near                  # without the second-best r
    assert _ratio("xqzvw", "CALIFORNIA") < 0.05
    assert _ratio("", "TEXAS") < 0.05


def test_doubled_letters_need_a_blank_between_them():
    assert _ratio("Ilinois", "ILLINOIS") < 0.9      # the second L has no column of its own
    assert _ratio("Illinois", "ILLINOIS") == pytest.approx(1.0)


def test_spotted_matches_keep_the_longer_phrase_and_respect_the_floor():
    states = {m.state for m in spotted_matches(columns("Arkansas"), ALPHABET, "header", 0.5)}
    assert states == {"AR"}                                          # KANSAS inside it dropped
    (m,) = spotted_matches(columns("West Virginia"), ALPHABET, "header", 0.5)
    assert (m.state, m.band, m.words) == ("WV", "header", 2)
    assert spotted_matches(columns("xqzvw"), ALPHABET, "footer", 0.5) == []
    assert spotted_matches(columns("Califomia"), ALPHABET, "header", 0.99) == []
