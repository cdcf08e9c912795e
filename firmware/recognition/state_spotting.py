"""Finding a state's words in a text band's CTC column probabilities (keyword spotting), not in its text.

Greedy decoding keeps one character per column, so a header read "Califonia" or "tCatiforavin" holds
the word only as a string that similarity must forgive. Asking instead how well each state word fits the
columns (a constrained Viterbi alignment, case folded, anything before and after the word free) scores
every word against everything the recogniser saw. The score of a word is its per-character likelihood
ratio against the unconstrained best path: 1.0 when the greedy text already spells it, lower the more
the columns must be bent to spell it. Pure numpy over plain arrays; all words in one vectorised pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from firmware.recognition.state_names import STATE_WORDS

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
NEG = -1e9


def fold(probs: np.ndarray, alphabet: str) -> np.ndarray:
    """(T, 1 + len(alphabet)) probabilities -> (T, 1 + 36) log-probabilities over blank + A-Z0-9.

    Upper and lower case of a letter are one class; a space is a gap (it joins the blank), other
    punctuation joins the blank too (state words are spotted without spaces or punctuation)."""
    probs = np.asarray(probs, np.float64)
    out = np.zeros((probs.shape[0], 1 + len(LETTERS)))
    out[:, 0] = probs[:, 0]
    for k, ch in enumerate(alphabet, start=1):
        up = ch.upper()
        out[:, 1 + LETTERS.index(up) if up in LETTERS else 0] += probs[:, k]
    return np.log(np.maximum(out, 1e-12))


@dataclass(frozen=True)
class Lexicon:
    """State words as padded label rows, ready for spot()."""

    phrases: tuple[str, ...]
    states: tuple[str, ...]
    labels: np.ndarray      # (P, N) class index per character, 0 where padded
    lengths: np.ndarray     # (P,)


def build_lexicon(words: tuple[tuple[str, str], ...] = STATE_WORDS, min_letters: int = 5) -> Lexicon:
    """Every phrase of at least `min_letters` characters (spaces and punctuation removed): a four-letter
    word (OHIO, IOWA, UTAH) fits too much noise at the per-character scale to be spotted."""
    keep = []
    for phrase, state in words:
        chars = [c for c in phrase if c in LETTERS]
        if len(chars) >= min_letters:
            keep.append((phrase, state, [1 + LETTERS.index(c) for c in chars]))
    n = max(len(k[2]) for k in keep)
    labels = np.zeros((len(keep), n), np.int64)
    for i, (_, _, lab) in enumerate(keep):
        labels[i, :len(lab)] = lab
    return Lexicon(tuple(k[0] for k in keep), tuple(k[1] for k in keep), labels,
                   np.array([len(k[2]) for k in keep]))


LEXICON = build_lexicon()


def spot(logp: np.ndarray, lexicon: Lexicon = LEXICON) -> np.ndarray:
    """(P,) per-character likelihood ratio (0..1] of each phrase in the band whose folded log-probs are `logp`.

    States per phrase: G_pre, then CTC's blank/char/blank.../blank over its N characters, then G_post.
    The garbage states emit each column's best class, so the best path's cost outside the word equals
    the greedy path's, and the ratio measures only what spelling the word costs.
    """
    T = logp.shape[0]
    P, N = lexicon.labels.shape
    S = 2 * N + 3                                     # G_pre, 2N+1 CTC states, G_post
    best = logp.max(axis=1)                           # (T,)
    lab = lexicon.labels
    ctc_label = np.zeros((P, 2 * N + 1), np.int64)    # class per CTC state (blank = 0)
    ctc_label[:, 1::2] = lab
    length = lexicon.lengths
    last_char = 2 * length - 1                        # CTC index of the last character
    valid = np.arange(2 * N + 1)[None, :] <= (2 * length)[:, None]
    skip = np.zeros((P, 2 * N + 1), bool)             # char state may be entered from two back
    skip[:, 3::2] = lab[:, 1:] != lab[:, :-1]
    skip &= valid
    post_from = np.zeros((P, 2 * N + 1), bool)
    rows = np.arange(P)
    post_from[rows, last_char] = True
    post_from[rows, 2 * length] = True

    def emit(t):
        e = np.full((P, S), NEG)
        e[:, 0] = best[t]
        ce = logp[t][ctc_label]
        e[:, 1:-1] = np.where(valid, ce, NEG)
        e[:, -1] = best[t]
        return e

    a = np.full((P, S), NEG)
    e0 = emit(0)
    a[:, 0] = e0[:, 0]
    a[:, 1] = e0[:, 1]
    a[:, 2] = e0[:, 2]
    for t in range(1, T):
        prev = a
        c = prev[:, 1:-1]
        stay = c
        one = np.concatenate([np.full((P, 1), NEG), c[:, :-1]], axis=1)
        two = np.concatenate([np.full((P, 2), NEG), c[:, :-2]], axis=1)
        two = np.where(skip, two, NEG)
        from_pre = np.full((P, 2 * N + 1), NEG)
        from_pre[:, 0] = prev[:, 0]
        from_pre[:, 1] = prev[:, 0]
        ctc = np.maximum.reduce([stay, one, two, from_pre])
        post = np.maximum(prev[:, -1], np.where(post_from, c, NEG).max(axis=1))
        e = emit(t)
        a = np.empty((P, S))
        a[:, 0] = prev[:, 0] + e[:, 0]
        a[:, 1:-1] = ctc + e[:, 1:-1]
        a[:, -1] = post + e[:, -1]
    end = np.maximum(a[:, -1], np.maximum(a[rows, 1 + last_char], a[rows, 1 + 2 * length]))
    cost = end - best.sum()                           # <= 0: what spelling the word costs over the greedy path
    return np.exp(np.minimum(cost, 0.0) / length)


def spotted_matches(probs: np.ndarray, alphabet: str, band: str, floor: float,
                    lexicon: Lexicon = LEXICON) -> list:
    """TextMatch for every phrase spotted at or above `floor`; a phrase whose letters lie inside a longer
    one spotted at least as well is dropped (KANSAS inside ARKANSAS, VIRGINIA inside WEST VIRGINIA)."""
    from firmware.recognition.state import TextMatch

    ratios = spot(fold(probs, alphabet), lexicon)
    found = [(lexicon.phrases[i], lexicon.states[i], float(ratios[i])) for i in np.flatnonzero(ratios >= floor)]
    letters = {p: "".join(c for c in p if c in LETTERS) for p, _, _ in found}
    kept = [(p, s, r) for p, s, r in found
            if not any(q != p and letters[p] in letters[q] and rq >= r for q, _, rq in found)]
    return [TextMatch(s, p, round(r, 4), band, len(p.split())) for p, s, r in kept]
