"""The plate's state from what the plate shows: printed words and design, never the serial or the car.

Pure decisions over plain data (strings and small colour summaries); the model and the cutting of
bands live in state_reader.py. Two kinds of evidence:

- **Text**: the words a full-alphabet recogniser reads in the band above the serial (the header) and
  the band below it (the footer), matched to each state's name and usual slogans (state_names.py).
  A dealer frame also prints words, and some of them are state names as well as city names
  ("Washington", "Nevada"): so one-word names count only in the header band, where the plate prints
  its state, and two states read on one plate are a conflict, answered with no state.
- **Design**: California's plate is the one US design whose header is red script and whose serial is
  dark blue on white, with nothing red below the serial (Louisiana's red script header comes with a red
  slogan below; Illinois, Massachusetts print the serial in red; Arkansas in black with a red slogan).
  Colours are measured relative to the plate's own background, so a yellow street light shifts both.

Either evidence alone may decide; when they disagree the answer is no state. A wrong state is worse than
none: the hotlist matcher turns a real hit into a `possible` one when the read's state contradicts the
entry's (hotlist/match.py `_state_conflict`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from firmware.recognition.state_names import STATE_WORDS

MIN_RATIO = 0.8          # similarity for a phrase to count (session 8's prototype rule)
FOOTER_WEIGHT = 0.9      # a footer match is a little less sure than a header one (frames print there)
DESIGN_CONFIDENCE = 0.7  # what the design alone is worth: several designs share colours


@dataclass(frozen=True)
class TextMatch:
    state: str
    phrase: str
    score: float        # SequenceMatcher ratio between the phrase and the words read, 0..1
    band: str           # "header" | "footer"
    words: int          # how many words the phrase has


@dataclass(frozen=True)
class ColourCues:
    """Mean CIELAB offset of the ink from the plate's background in three bands (a*: + red, - green;
    b*: + yellow, - blue); None where a band has no ink."""

    header_a: float | None
    chars_a: float | None
    chars_b: float | None
    footer_a: float | None


@dataclass(frozen=True)
class DesignThresholds:
    """Where California's design starts, in CIELAB units (ink's median offset from the background).

    Chosen on rendered plates by models/state/fit_design.py (n 150 per design, seed 9): the most
    California renders accepted (0.50 with the dmv.ca.gov footer, 0.42 without) with at most 1 % of
    the designs it must reject passing (Louisiana 4.7 %, DC 4.7 %, New Jersey 0.7 %, the rest 0 %);
    Washington's older red-capitals plate passes 55 %: the colours cannot tell it from California's.
    """

    header_red: float = 14.0     # header ink at least this far towards red (a* up)
    chars_blue: float = 14.0     # serial ink at least this far towards blue (b* this far down)
    chars_red: float = 24.0      # serial ink no further than this towards red (IL, MA print it red)
    footer_red: float = 6.0      # footer ink no further than this towards red (LA, AR, IL, DC slogans)


@dataclass(frozen=True)
class StateDecision:
    state: str | None
    confidence: float
    source: str          # "text" | "design" | "text+design" | "conflict" | "none"


def normalise_words(text: str) -> list[str]:
    """Upper case, anything but A-Z0-9 splits words; an apostrophe is dropped inside a word (SPORTSMAN'S)."""
    text = re.sub(r"(?<=[A-Za-z])'(?=[A-Za-z])", "", text or "")
    return [w for w in re.split(r"[^A-Z0-9]+", text.upper()) if w]


def similarity(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b).ratio() if a and b else 0.0


def match_phrases(text: str, band: str, min_ratio: float = MIN_RATIO,
                  words_table: tuple[tuple[str, str], ...] = STATE_WORDS) -> list[TextMatch]:
    """Every state name or slogan found in `text`, compared with spaces removed over windows of words
    (the recogniser merges and splits words), the best first (on a tie the longer); a match overlapping a
    better one is dropped (KANSAS inside ARKANSAS, WASHINGTON inside a read WASHINGTON DC). Phrases shorter than 4 letters are never searched."""
    words = normalise_words(text)
    found: list[tuple[TextMatch, tuple[int, int]]] = []
    for phrase, state in words_table:
        target = phrase.replace(" ", "")
        if len(target) < 4:
            continue
        n = len(phrase.split())
        best, span = 0.0, (0, 0)
        for size in {max(1, n - 1), n, n + 1}:
            for i in range(0, max(0, len(words) - size) + 1):
                window = "".join(words[i:i + size])
                if not window:
                    continue
                score = similarity(window, target)
                if score > best:
                    best, span = score, (i, i + size)
        if best >= min_ratio:
            found.append((TextMatch(state, phrase, round(best, 4), band, n), span))
    # the best match first; on a tie the longer phrase (WASHINGTON DC over the WASHINGTON inside it)
    found.sort(key=lambda m: (-m[0].score, -len(m[0].phrase.replace(" ", ""))))
    kept: list[tuple[TextMatch, tuple[int, int]]] = []
    for match, span in found:
        if any(span[0] < s[1] and s[0] < span[1] for _, s in kept):
            continue
        kept.append((match, span))
    return [m for m, _ in kept]


def text_evidence(matches: list[TextMatch]) -> dict[str, float]:
    """Best score per state; a one-word name in the footer (a dealer frame's city) does not count."""
    out: dict[str, float] = {}
    for m in matches:
        if m.band != "header" and m.words == 1 and m.phrase.isalpha():
            continue
        score = m.score * (FOOTER_WEIGHT if m.band != "header" else 1.0)
        out[m.state] = max(out.get(m.state, 0.0), score)
    return out


def design_state(cues: ColourCues, t: DesignThresholds = DesignThresholds()) -> str | None:
    """California's design: red header ink, navy serial ink (not red), no red ink below the serial."""
    if cues.header_a is None or cues.chars_b is None:
        return None
    if cues.header_a < t.header_red or -cues.chars_b < t.chars_blue:
        return None
    if cues.chars_a is not None and cues.chars_a > t.chars_red:
        return None
    if cues.footer_a is not None and cues.footer_a > t.footer_red:
        return None
    return "CA"


def decide(matches: list[TextMatch], design: str | None) -> StateDecision:
    """One state with its confidence, or none: text and design must not disagree, nor two texts."""
    evidence = text_evidence(matches)
    if len(evidence) > 1:
        return StateDecision(None, 0.0, "conflict")
    if evidence:
        state, score = next(iter(evidence.items()))
        if design is not None and design != state:
            return StateDecision(None, 0.0, "conflict")
        if design == state:
            return StateDecision(state, round(1 - (1 - score) * (1 - DESIGN_CONFIDENCE), 4), "text+design")
        return StateDecision(state, round(score, 4), "text")
    if design is not None:
        return StateDecision(design, DESIGN_CONFIDENCE, "design")
    return StateDecision(None, 0.0, "none")
