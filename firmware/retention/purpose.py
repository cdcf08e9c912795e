"""The prohibited-purpose screen: one pure test for every stated purpose or reason on the unit.

Both general orders forbid using ALPR data for traffic enforcement, crash investigation (hit and run
included) and commercial ends, and allow it only for stated law-enforcement purposes. A query names a
purpose from the configured list; a manual hotlist entry (which both sets up an alert and searches the
stored reads) gives a free-text reason. Both pass the same screen, and so does every purpose an
administrator configures (retention.purposes), so "speed enforcement" can neither be typed nor listed.
"""

from __future__ import annotations

import re

# Words that mark a stated purpose as one of the prohibited uses even when phrased differently (whole
# words, with their usual endings: "speeding" and "speeders" match, "Russell" does not match "sell").
PROHIBITED_MARKERS = ("traffic", "crash(es|ed)?", "collisions?", "accidents?", r"hit\W*(and|&|n)?\W*run",
                      "speed(s|ing|er|ers)?", "radar", "moving violations?", "red light", "stop sign",
                      "seat ?belts?", "parking", "tolls?", "wrecks?", "fender benders?", "citations?",
                      "commercial", "marketing", "insurance", "repossess(ion|ions)?", "repos?", "sales?",
                      "sell(s|ing)?", "advertis(e|ing|ement)s?")
_MARKER = re.compile(r"\b(?:" + "|".join(PROHIBITED_MARKERS) + r")\b")

MIN_REASON_WORDS = 2       # "stolen vehicle", "case 24-118 robbery suspect": a word or a dot says nothing
MIN_REASON_LETTERS = 8

_WORD = re.compile(r"[^\W\d_]{2,}")     # a word: two or more letters


def normalise_purpose(purpose: str) -> str:
    return " ".join((purpose or "").lower().split())


def prohibited(text: str, configured: list[str] | tuple[str, ...] = ()) -> bool:
    """A prohibited use, by the configured list or by a marker phrase."""
    p = normalise_purpose(text)
    return any(bad in p for bad in configured) or _MARKER.search(p) is not None


def meaningful(text: str) -> bool:
    """At least two words of letters and a few letters in all: not ".", "x", "test" or "asdf"."""
    words = _WORD.findall(text or "")
    return len(words) >= MIN_REASON_WORDS and sum(len(w) for w in words) >= MIN_REASON_LETTERS
