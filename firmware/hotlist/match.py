"""The matching rules, as plain functions over strings: the single source of truth for "why did this hit".

The compact index (`index.py`) only finds candidates fast; every hit it reports is decided and explained
by `explain()` here, and `reference_matches()` is the brute-force loop the tests hold the index to.

Rules (after `../shared/docs/hotlist-formats.md`, Genetec AutoVu's documented behaviour):
- exact: the normalised read equals the entry.
- equivalent: same length, every differing character is an OCR look-alike (0/O/D/Q, 1/I, 2/Z, 5/S, 8/B,
  6/G) and at most `max_equivalent` of them differ. ABC123 hits A8C123, ABC1Z3, ABCI23 but not A8CIZ3.
- length: (opt-in) the read is the entry with exactly one character inserted or removed, the rest exact.
  AB123 and ABC0123 both hit ABC123.
- wildcard: an entry with one or two `*`. The `*` count is how many read characters may be left over
  after the entry's literal characters are found, in order, in the read; where the `*` sit does not
  matter. S*K3*7 hits NSK357 and ASDK37, not SUKA357 (3 left over) nor SKU573 (order broken).
- possible: a read whose state is known and differs from the entry's known state is still reported, but
  flagged `possible` so the officer knows the state contradicts.
Positions are 0-based indexes into the read (for a read missing a character: where it is missing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EQUIVALENCE_CLASSES = ("0ODQ", "1I", "2Z", "5S", "8B", "6G")
MAX_PLATE_LEN = 10          # NCIC LIC field width; longer plates are truncated there, refused here
MAX_WILDCARDS = 2
JUNK_PLATES = frozenset({"", "NONE", "UNK", "UNKN", "UNKNOWN", "NOPLATE", "NOTAG", "NOTAGS", "NULL"})

CANON = str.maketrans({c: cls[0] for cls in EQUIVALENCE_CLASSES for c in cls[1:]})
CANONICAL_ALPHABET = "".join(sorted(set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".translate(CANON))))
_NOT_PLATE = re.compile(r"[^A-Z0-9]")
_NOT_ENTRY = re.compile(r"[^A-Z0-9*]")
_ALLOWED_RAW = re.compile(r"^[A-Za-z0-9 \-.*/·_]*$")

KIND_RANK = {"exact": 0, "equivalent": 1, "length": 2, "wildcard": 3}


@dataclass(frozen=True)
class MatchOptions:
    max_equivalent: int = 1
    length_difference: bool = False
    wildcards: bool = True


@dataclass(frozen=True)
class Match:
    kind: str                      # exact | equivalent | length | wildcard
    positions: tuple[int, ...]     # read positions that differ from the entry
    possible: bool = False         # the read's state contradicts the entry's


def normalise_plate(text: str | None) -> str:
    """A read or entry plate the NCIC way: upper case, letters and digits only (spaces, hyphens dropped)."""
    return _NOT_PLATE.sub("", (text or "").upper())


def normalise_entry(text: str | None) -> str:
    """Like normalise_plate but keeps `*` (wildcard entries)."""
    return _NOT_ENTRY.sub("", (text or "").upper())


def entry_problem(raw: str | None) -> str | None:
    """Why a raw list plate cannot be an entry ('junk' for NONE/UNK/empty), or None when it can."""
    raw = raw or ""
    if not _ALLOWED_RAW.match(raw):
        return "plate has characters other than letters, digits, space, hyphen or *"
    plate = normalise_entry(raw)
    if plate.replace("*", "") in JUNK_PLATES:
        return "junk"
    if plate.count("*") > MAX_WILDCARDS:
        return f"more than {MAX_WILDCARDS} wildcards"
    if len(plate) > MAX_PLATE_LEN:
        return f"plate longer than {MAX_PLATE_LEN} characters"
    return None


def canonical(plate: str) -> str:
    """Each look-alike class collapsed to one character: plates equal up to OCR confusion share it."""
    return plate.translate(CANON)


def equivalent(a: str, b: str) -> bool:
    return a == b or a.translate(CANON) == b.translate(CANON)


def _state_conflict(entry_state: str | None, read_state: str | None) -> bool:
    return bool(entry_state) and bool(read_state) and entry_state != read_state


def wildcard_positions(entry: str, read: str) -> tuple[int, ...] | None:
    """Read positions not taken by the entry's literals (leftmost embedding), or None if no match."""
    stars = entry.count("*")
    literals = entry.replace("*", "")
    if not 1 <= stars <= MAX_WILDCARDS or not literals:
        return None
    extra = len(read) - len(literals)
    if not 0 <= extra <= stars:
        return None
    left_over, j = [], 0
    for i, ch in enumerate(read):
        if j < len(literals) and ch == literals[j]:
            j += 1
        else:
            left_over.append(i)
    return tuple(left_over) if j == len(literals) else None


def length_position(entry: str, read: str) -> int | None:
    """Where the read gained or lost its one character relative to the entry (leftmost), else None."""
    if len(read) == len(entry) + 1:
        longer, shorter = read, entry
    elif len(read) + 1 == len(entry):
        longer, shorter = entry, read
    else:
        return None
    for i in range(len(longer)):
        if longer[:i] + longer[i + 1:] == shorter:
            return i
    return None


def explain(entry: str, entry_state: str | None, read: str, read_state: str | None,
            options: MatchOptions = MatchOptions()) -> Match | None:
    """Whether a normalised read hits one entry, and why. The only place the rules live."""
    if not read:
        return None
    possible = _state_conflict(entry_state, read_state)
    if "*" in entry:
        if not options.wildcards:
            return None
        pos = wildcard_positions(entry, read)
        return None if pos is None else Match("wildcard", pos, possible)
    if entry == read:
        return Match("exact", (), possible)
    if len(entry) == len(read):
        diffs = tuple(i for i, (e, r) in enumerate(zip(entry, read)) if e != r)
        if len(diffs) <= options.max_equivalent and all(equivalent(entry[i], read[i]) for i in diffs):
            return Match("equivalent", diffs, possible)
        return None
    if options.length_difference:
        pos = length_position(entry, read)
        if pos is not None:
            return Match("length", (pos,), possible)
    return None


def reference_matches(entries: list[tuple[str, str | None]], read: str, read_state: str | None,
                      options: MatchOptions = MatchOptions()) -> list[tuple[int, Match]]:
    """Brute force over every entry: what the fast index must reproduce exactly."""
    out = []
    for i, (plate, state) in enumerate(entries):
        m = explain(plate, state, read, read_state, options)
        if m is not None:
            out.append((i, m))
    return out


def describe(match: Match, entry: str, read: str) -> str:
    """One line a person can check against the plate in the photo."""
    where = ",".join(str(p) for p in match.positions)
    text = {
        "exact": "exact match",
        "equivalent": f"OCR-equivalent characters at read positions [{where}]",
        "length": f"one character {'extra' if len(read) > len(entry) else 'missing'} at read position [{where}]",
        "wildcard": f"wildcard entry, read positions [{where}] taken by *",
    }[match.kind]
    if match.possible:
        text += "; state differs (possible hit)"
    return f"read {read} vs entry {entry}: {text}"


def describe_hit(hit, read: str) -> str:
    """`describe` for a firmware.records.Hit: what the alert screen and the demo print beside the photo."""
    return describe(Match(hit.match, tuple(hit.positions), hit.possible), hit.entry_plate, normalise_plate(read))
