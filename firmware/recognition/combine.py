"""Two plate readers, one answer: per-character combination with calibrated confidences.

Our CTC reader (ocr.py) and the slot reader (slot_ocr.py) were trained apart (rendered plates vs real
ones), so where one is unsure the other is often right. Their raw probabilities are not comparable
(each is over- or under-confident in its own way), so each is first temperature-scaled with a
temperature fitted on rendered plates (models/cct/calibrate.py; never on the evaluation photos).
Then:
- both read the same number of characters: each position takes the product of the two calibrated
  distributions, renormalised (a log pool: the Bayes combination of two readers whose errors are
  independent; where they disagree the surer reader wins, where they agree the character is surer than
  either alone), and its best character. A mean (linear pool) was tried first: it put a quarter of the
  right reads of rendered plates under the unit's min_confidence (agreeing readers came out less sure
  than the surer one), so reads were dropped (docs/perf/recognition.md, session 8);
- they read different lengths: per-position pooling would pair the wrong characters, so the read whose
  calibrated sequence confidence is higher is kept whole (for the slot reader that includes how sure it
  is that the remaining slots are empty).
- our reader's known real-plate slips (`doubt_first`): where our reader reads a character it is known to
  put in place of another on real plates (M for W: the largest kind of miss the issue reports on photos we
  do not have, and the CCT reads those Ws), the other character gets the same probability in our row, so
  between the two the second reader decides. Only the named direction: our W stays evidence against M.
  The doubt decides which character is read, never how sure a read it does not change is
  (`combine_doubting`): on renders, doubting every M in the confidences too put 15 of 1,500 right reads
  under the unit's min_confidence where the CCT is unsure of our typefaces; this way 3 (session 12).
Everything here is plain numpy over plain arrays, so it is tested exhaustively without a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = 1e-9


@dataclass(frozen=True)
class Combined:
    text: str
    char_probs: np.ndarray            # (len(text), len(alphabet)) calibrated, rows sum to 1
    char_confidences: tuple[float, ...]
    source: str                       # "pooled", "first" or "second": where the characters came from
    # source "second": 1 - p(empty) of each kept slot, calibrated (how sure the CCT is a character is there)
    slot_presence: tuple[float, ...] | None = None


def temper(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature scaling of probability rows: softmax(log p / T), the same as dividing the logits by T."""
    p = np.maximum(np.asarray(probs, np.float64), EPS)
    if p.size == 0:
        return p.reshape(p.shape)
    logits = np.log(p) / float(temperature)
    logits -= logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=-1, keepdims=True)


def slot_rows(slot_probs: np.ndarray, n_alphabet: int) -> tuple[np.ndarray, np.ndarray]:
    """(character rows over the alphabet, renormalised; empty-slot probability of every slot) of a slot read."""
    probs = np.asarray(slot_probs, np.float64)
    filled = probs.argmax(axis=1) < n_alphabet
    rows = probs[filled, :n_alphabet]
    rows = rows / np.maximum(rows.sum(axis=1, keepdims=True), EPS)
    return rows, probs[:, n_alphabet]


def sequence_confidence(char_rows: np.ndarray, empty_probs: np.ndarray | None = None) -> float:
    """Product of each read character's probability (and, for slots, of each empty slot's emptiness)."""
    conf = float(np.prod(np.asarray(char_rows).max(axis=1))) if len(char_rows) else 0.0
    if empty_probs is not None and len(char_rows):
        empties = np.asarray(empty_probs)
        conf *= float(np.prod(empties[empties >= 0.5]))
    return conf


def doubt_first(rows: np.ndarray, alphabet: str, doubts: tuple[str, ...] | list[str]) -> np.ndarray:
    """Our reader's rows with its known slips made no evidence: for each doubt "XY" (reads X where the plate
    shows Y), a row whose best character is X gives Y the same probability; rows renormalised.

    The rows stay a distribution (what the pool and its confidences need); a row whose best character is
    not a doubted one is returned unchanged, so a read that never touches X is exactly what it was.
    """
    out = np.array(rows, np.float64, copy=True).reshape(-1, len(alphabet))
    if not len(out) or not doubts:
        return out
    best = out.argmax(axis=1)
    for said, shown in doubts:
        k, j = alphabet.index(said), alphabet.index(shown)
        hit = best == k
        out[hit, j] = np.maximum(out[hit, j], out[hit, k])
    return out / np.maximum(out.sum(axis=1, keepdims=True), EPS)


def combine(first_rows: np.ndarray, second_slots: np.ndarray, alphabet: str,
            t_first: float = 1.0, t_second: float = 1.0) -> Combined:
    """Combine the CTC reader's character rows (n, len(alphabet)) with the slot reader's (slots, len+1).

    `first_rows` are the CTC reader's per-character probabilities over the alphabet (blank removed),
    `second_slots` the slot reader's raw output. Temperatures come from calibration on rendered plates.
    """
    n_alpha = len(alphabet)
    a = temper(np.asarray(first_rows, np.float64).reshape(-1, n_alpha), t_first)
    b_all = temper(np.asarray(second_slots, np.float64).reshape(-1, n_alpha + 1), t_second)
    b, empty = slot_rows(b_all, n_alpha)
    if len(a) == len(b) and len(a):
        rows = np.exp(np.log(np.maximum(a, EPS)) + np.log(np.maximum(b, EPS)))
        rows = rows / rows.sum(axis=1, keepdims=True)
        source = "pooled"
    elif len(b) and sequence_confidence(b, empty) > sequence_confidence(a):
        rows, source = b, "second"
    else:
        rows, source = a, "first"
    best = rows.argmax(axis=1) if len(rows) else np.zeros(0, int)
    text = "".join(alphabet[k] for k in best)
    confs = tuple(float(rows[i, k]) for i, k in enumerate(best))
    presence = tuple(float(1.0 - e) for e in empty[b_all.argmax(axis=1) < n_alpha]) if source == "second" else None
    return Combined(text, rows.astype(np.float32), confs, source, presence)


def combine_doubting(first_rows: np.ndarray, second_slots: np.ndarray, alphabet: str, t_first: float = 1.0,
                     t_second: float = 1.0, doubts: tuple[str, ...] | list[str] = ()) -> Combined:
    """`combine` with our reader's known slips doubted (`doubt_first`) where that changes the read.

    The doubted combination is taken only when its text differs from the plain one; otherwise the plain
    combination stands, confidences included, so a doubt never costs a read it leaves as it was.
    """
    plain = combine(first_rows, second_slots, alphabet, t_first, t_second)
    if not doubts:
        return plain
    doubted = combine(doubt_first(first_rows, alphabet, doubts), second_slots, alphabet, t_first, t_second)
    return plain if doubted.text == plain.text else doubted


def kept_presence(combined: Combined, first_presence) -> tuple[float, ...]:
    """How sure the reader whose characters were kept is that each is there at all (0..1 per character).

    The rows pooled and hinted leave the blank (ours) and the empty slot (the CCT) out, so their
    confidences say which character, not whether one is there; a junk read (a grille's bars read "112")
    keeps high row confidences. Our characters (pooled or first) take our presence, 1 - p(blank) at
    their column; the CCT's (second) 1 - p(empty) of their calibrated slots. Missing presence is 1.
    """
    if combined.source == "second" and combined.slot_presence is not None:
        return combined.slot_presence
    if first_presence is None or len(first_presence) != len(combined.text):
        return (1.0,) * len(combined.text)
    return tuple(float(p) for p in first_presence)
