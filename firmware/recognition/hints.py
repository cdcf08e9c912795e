"""US plate-format knowledge as soft hints: re-rank the OCR's own alternatives, never filter.

The OCR often knows a character is "O or 0", "I or 1", "B or 8" and picks by a hair. Issued plates
follow patterns (ABC1234, 1ABC234, 123ABC, ...), and most states leave I, O and Q out of serials, so
a digit is a priori likelier than those letters. We pick, per pattern, the best letters-or-digits
reading from the per-character probabilities, weigh it by the pattern's prior, and keep whichever
reading (the raw one included) scores best. So:
- a read that fits no pattern is kept (no hard filter: vanity and out-of-state plates), except that
  a rare letter (I, O, Q) yields to its digit when the OCR found them nearly as likely;
- a character changes only when the OCR itself gave the replacement real probability (>= min_alt);
- the length never changes; switching hints off returns the read as is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# pattern -> relative prior. L letter, D digit. The common issued serial shapes of US states.
US_FORMATS: dict[str, float] = {
    "LLLDDDD": 3.0, "DLLLDDD": 3.0, "LLLDDD": 2.0, "DDDLLL": 2.0, "DLLDDD": 1.0, "LLDDDDD": 1.0,
    "DDDDLL": 1.0, "LLDDDD": 1.0, "DDDLLLL": 1.0, "LLLLDDD": 1.0, "DDLLDDD": 0.5, "LDDDLLL": 0.5,
    "DDDDDD": 0.5, "DDDDDDD": 0.5, "LLLDDDL": 0.5, "DLDDDD": 0.5, "DDDLDDD": 0.5, "DDLDDDD": 0.5,
    "LLDLDDD": 0.5, "DDDDLLL": 0.5, "LLLLDD": 0.5, "DDLLLL": 0.5, "LDLDDDD": 0.3,
}
RARE_LETTERS = {"I": 0.3, "O": 0.1, "Q": 0.1}  # most states leave these out of serials (~1/10 of a digit's rate);
# I stays likelier: vanity plates use it, and a bar without a flag reads as I or 1 in equal measure


@dataclass(frozen=True)
class HintResult:
    text: str
    char_confidences: tuple[float, ...]
    changed: tuple[int, ...]          # positions that differ from the raw read
    pattern: str | None               # the format that won, None when no format did


def _char_prior(alphabet: str) -> np.ndarray:
    return np.array([RARE_LETTERS.get(c, 1.0) for c in alphabet], np.float64)


def apply_hints(text: str, char_probs: np.ndarray, alphabet: str = ALPHABET,
                formats: dict[str, float] | None = None, raw_prior: float = 1.0,
                min_alt: float = 0.05) -> HintResult:
    """Re-rank `text` with plate-format priors. `char_probs`: (len(text), len(alphabet)) rows."""
    probs = np.asarray(char_probs, np.float64)
    n = len(text)
    base_conf = tuple(float(probs[i, alphabet.index(c)]) if c in alphabet else 0.0 for i, c in enumerate(text))
    if n == 0 or probs.shape != (n, len(alphabet)):
        return HintResult(text, base_conf, (), None)
    formats = US_FORMATS if formats is None else formats
    prior = _char_prior(alphabet)
    is_digit = np.array([c.isdigit() for c in alphabet])
    eps = 1e-9
    # the free reading: each character on its own, weighed by the letter prior (O -> 0 when close)
    free = []
    for i, c in enumerate(text):
        scores = probs[i] * prior
        k = int(scores.argmax())
        free.append(alphabet[k] if probs[i, k] >= min_alt else c)
    free_text = "".join(free)
    free_logp = sum(math.log(max(probs[i, alphabet.index(c)] * RARE_LETTERS.get(c, 1.0), eps))
                    for i, c in enumerate(free_text))
    best = (free_logp + math.log(raw_prior), free_text, None)
    for pattern, weight in formats.items():
        if len(pattern) != n:
            continue
        chosen = []
        logp = math.log(weight)
        ok = True
        for i, kind in enumerate(pattern):
            allowed = is_digit if kind == "D" else ~is_digit
            scores = np.where(allowed, probs[i] * prior, -1.0)
            k = int(scores.argmax())
            if alphabet[k] != text[i] and probs[i, k] < min_alt:
                ok = False  # the OCR gave that class no real chance: do not invent it
                break
            chosen.append(alphabet[k])
            logp += math.log(max(scores[k], eps))
        if ok and logp > best[0]:
            best = (logp, "".join(chosen), pattern)
    _, new_text, pattern = best
    changed = tuple(i for i, (a, b) in enumerate(zip(text, new_text)) if a != b)
    # confidence under the letter prior: P(c) * prior(c) / sum over the alphabet of the same
    posterior = probs * prior
    posterior = posterior / np.maximum(posterior.sum(axis=1, keepdims=True), eps)
    confs = tuple(float(posterior[i, alphabet.index(c)]) for i, c in enumerate(new_text))
    return HintResult(new_text, confs, changed, pattern)
