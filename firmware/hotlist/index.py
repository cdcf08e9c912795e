"""A compact, immutable, sorted index of one hotlist version: millions of plates in tens of megabytes.

A Python dict of 2,000,000 str keys costs ~200 MB and its build dominates load time; here each entry
is a fixed-width row in numpy arrays (plate bytes, canonical key as a uint64, state, category code, row
id, and validity dates only when the list has any), sorted by the canonical (look-alikes collapsed) key. A read
needs one binary search to reach every entry that is equal up to OCR confusion; `match.explain` then
decides and explains each candidate, so the index can never disagree with the written rules.
Instances are never mutated after build: the service swaps whole indexes, so a match never sees half
a list.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firmware.hotlist.match import CANON, CANONICAL_ALPHABET, MAX_PLATE_LEN, Match, MatchOptions, explain

_PLATE_DT = f"S{MAX_PLATE_LEN}"
_STATE_DT = "S3"
INDEX_FORMAT = 2                     # bump when the saved arrays change meaning (the cache is then rebuilt)
_NEVER = np.iinfo(np.int64).max
_CHUNK = 16_384


@dataclass(frozen=True)
class Candidate:
    plate: str
    state: str | None
    category: str | None
    row_id: int
    match: Match


class IndexBuilder:
    """Collects entries in small Python batches turned into numpy chunks, so peak memory stays low."""

    def __init__(self) -> None:
        self._chunks: list[tuple] = []
        self._batch: tuple[list, ...] = ([], [], [], [], [], [])
        self._wild: list[tuple] = []
        self._categories: dict[str | None, int] = {None: 0}
        self._dated = False
        self.count = 0

    def add(self, plate: str, state: str | None, row_id: int, category: str | None = None,
            effective_s: int | None = None, expires_s: int | None = None) -> None:
        code = self._categories.setdefault(category, len(self._categories))
        if effective_s is not None or expires_s is not None:
            self._dated = True
        eff = 0 if effective_s is None else effective_s
        exp = _NEVER if expires_s is None else expires_s
        self.count += 1
        if "*" in plate:
            self._wild.append((plate, state or None, category, row_id, eff, exp))
            return
        b = self._batch
        b[0].append(plate)
        b[1].append(state or "")
        b[2].append(row_id)
        b[3].append(code)
        b[4].append(eff)
        b[5].append(exp)
        if len(b[0]) >= _CHUNK:
            self._flush()

    def add_rows(self, rows: list[tuple]) -> None:
        """Many (row_id, plate, state, category, effective_s, expires_s) at once: the fast path of a load."""
        if not rows:
            return
        ids, plates, states, cats, effs, exps = zip(*rows)
        if any("*" in p for p in plates):
            for row_id, plate, state, category, eff, exp in rows:
                self.add(plate, state, row_id, category, eff, exp)
            return
        cmap = self._categories
        codes = [cmap[c] if c in cmap else cmap.setdefault(c, len(cmap)) for c in cats]
        n = len(rows)
        if effs.count(None) == n and exps.count(None) == n:
            effs, exps = [0] * n, [_NEVER] * n
        else:
            self._dated = True
            effs = [0 if e is None else e for e in effs]
            exps = [_NEVER if e is None else e for e in exps]
        b = self._batch
        b[0].extend(plates)
        b[1].extend(s or "" for s in states)
        b[2].extend(ids)
        b[3].extend(codes)
        b[4].extend(effs)
        b[5].extend(exps)
        self.count += n
        if len(b[0]) >= _CHUNK:
            self._flush()

    def _flush(self) -> None:
        plates, states, ids, codes, effs, exps = self._batch
        if not plates:
            return
        arr = np.array(plates, dtype=_PLATE_DT)
        canon = canonical_keys(np.array([p.translate(CANON) for p in plates], dtype=_PLATE_DT))
        n = len(plates)
        undated = effs.count(0) == n and exps.count(_NEVER) == n
        self._chunks.append((arr, canon, np.array(states, dtype=_STATE_DT), np.array(ids, dtype=np.int64),
                             np.array(codes, dtype=np.uint16), None if undated else np.array(effs, dtype=np.int64),
                             None if undated else np.array(exps, dtype=np.int64)))
        self._batch = ([], [], [], [], [], [])

    def build(self) -> "ListIndex":
        # One column at a time, releasing what is consumed: peak memory stays near 1x the index, not 2x.
        self._flush()
        chunks = [list(c) for c in self._chunks]
        self._chunks = []
        sizes = [len(c[0]) for c in chunks]
        dtypes = (_PLATE_DT, np.uint64, _STATE_DT, np.int64, np.uint16, np.int64, np.int64)
        cols: list = []
        for i, dtype in enumerate(dtypes):
            if i >= 5 and not self._dated:
                cols.append(None)
                continue
            parts = []
            for chunk, size in zip(chunks, sizes):
                part = chunk[i]
                if part is None:
                    part = np.full(size, 0 if i == 5 else _NEVER, dtype=np.int64)
                parts.append(part)
                chunk[i] = None
            cols.append(np.concatenate(parts) if parts else np.empty(0, dtype=dtype))
            del parts
        order = np.argsort(cols[1], kind="stable")
        for i, col in enumerate(cols):
            if col is not None:
                cols[i] = col[order]
                del col
        names = [None] * len(self._categories)
        for name, code in self._categories.items():
            names[code] = name
        return ListIndex(*cols, categories=names, wildcards=tuple(self._wild))


class ListIndex:
    def __init__(self, plates, canon, states, row_ids, cat_codes, effective, expires, *,
                 categories: list[str | None], wildcards: tuple = ()):
        self._plates, self._canon, self._states = plates, canon, states
        self._ids, self._codes, self._eff, self._exp = row_ids, cat_codes, effective, expires
        self._categories = categories
        self._wild = wildcards
        self._n = len(plates)

    _ARRAYS = ("plates", "canon", "states", "ids", "codes", "eff", "exp")

    def save(self, folder: Path, meta: dict) -> None:
        """Write the index as .npy files plus meta.json, atomically (a temp folder renamed into place)."""
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name in self._ARRAYS:
            arr = getattr(self, "_" + name)
            if arr is not None:
                np.save(tmp / f"{name}.npy", arr, allow_pickle=False)
        wild = [list(w) for w in self._wild]
        (tmp / "meta.json").write_text(json.dumps({**meta, "categories": self._categories, "wildcards": wild}))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)

    @classmethod
    def load(cls, folder: Path) -> tuple["ListIndex", dict]:
        meta = json.loads((folder / "meta.json").read_text())
        arrays = [np.load(folder / f"{n}.npy", allow_pickle=False) if (folder / f"{n}.npy").exists() else None
                  for n in cls._ARRAYS]
        wild = tuple(tuple(w) for w in meta.pop("wildcards"))
        return cls(*arrays, categories=meta.pop("categories"), wildcards=wild), meta

    def __len__(self) -> int:
        return self._n + len(self._wild)

    @property
    def nbytes(self) -> int:
        arrays = (self._plates, self._canon, self._states, self._ids, self._codes, self._eff, self._exp)
        return sum(a.nbytes for a in arrays if a is not None)

    def _valid(self, i: int, now_s: int) -> bool:
        return self._eff is None or self._eff[i] <= now_s < self._exp[i]

    def _collect(self, key: bytes, i: int, read: str, read_state: str | None, now_s: int,
                 options: MatchOptions, out: dict) -> None:
        canon, n = self._canon, self._n
        while i < n and canon[i] == key:
            if i not in out and self._valid(i, now_s):
                plate = self._plates[i].decode()
                state = self._states[i].decode() or None
                m = explain(plate, state, read, read_state, options)
                if m is not None:
                    out[i] = Candidate(plate, state, self._categories[self._codes[i]], int(self._ids[i]), m)
            i += 1

    def lookup(self, read: str, read_state: str | None, now_s: int,
               options: MatchOptions = MatchOptions()) -> list[Candidate]:
        """Every entry the (normalised) read hits, explained. `now_s`: epoch seconds, for validity dates."""
        found: dict[int, Candidate] = {}
        size = len(read)
        if self._n and 0 < size <= MAX_PLATE_LEN:
            key = canonical_key(read.translate(CANON))
            self._collect(key, int(self._canon.searchsorted(key)), read, read_state, now_s, options, found)
        if options.length_difference and self._n and 1 <= size <= MAX_PLATE_LEN + 1:
            arr = _length_variants(read.translate(CANON))
            lo = self._canon.searchsorted(arr, "left")
            present = self._canon[np.minimum(lo, self._n - 1)] == arr
            for j in np.nonzero(present)[0]:
                self._collect(arr[j], int(lo[j]), read, read_state, now_s, options, found)
        out = list(found.values())
        if options.wildcards and size:
            for plate, state, category, row_id, eff, exp in self._wild:
                if eff <= now_s < exp:
                    m = explain(plate, state, read, read_state, options)
                    if m is not None:
                        out.append(Candidate(plate, state, category, row_id, m))
        return out


_ALPHABET = np.frombuffer(CANONICAL_ALPHABET.encode(), dtype=np.uint8)
# Canonical plates as integers: 5 bits a character (code 1..28, 0 = padding), most significant first,
# so integer order is the plates' lexicographic order and a binary search compares machine words,
# not strings (an order of magnitude faster for the batched length-difference search).
_CODE = np.zeros(256, dtype=np.uint64)
_CODE[_ALPHABET] = np.arange(1, len(_ALPHABET) + 1, dtype=np.uint64)
for _c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789":          # look-alikes share their canonical code
    _CODE[ord(_c)] = _CODE[ord(_c.translate(CANON))]
_CODE_OF = {chr(c): int(_CODE[c]) for c in range(256) if _CODE[c]}
_SHIFTS = np.array([5 * (MAX_PLATE_LEN - 1 - i) for i in range(MAX_PLATE_LEN)], dtype=np.uint64)
_BITS = 5 * MAX_PLATE_LEN
_FIVE = np.uint64(5)
_ALPHA_CODES = _CODE[_ALPHABET]
# _TOP[j]: the bits of characters 0..j-1; _AT[j]: the shift of character j.
_TOP = np.array([((1 << 5 * j) - 1) << (_BITS - 5 * j) for j in range(MAX_PLATE_LEN + 1)], dtype=np.uint64)
_AT = np.array([max(_BITS - 5 * (j + 1), 0) for j in range(MAX_PLATE_LEN + 1)], dtype=np.uint64)


def canonical_key(canon_plate: str) -> np.uint64:
    """The uint64 key of a plate of at most MAX_PLATE_LEN characters (look-alikes share a key)."""
    key = 0
    for ch in canon_plate:
        key = (key << 5) | _CODE_OF[ch]
    return np.uint64(key << (5 * (MAX_PLATE_LEN - len(canon_plate))))


def canonical_keys(canon: np.ndarray) -> np.ndarray:
    """An S10 array of plates -> their uint64 keys."""
    rows = canon.view(np.uint8).reshape(-1, MAX_PLATE_LEN)
    return (_CODE[rows] << _SHIFTS).sum(axis=1, dtype=np.uint64)   # fields never overlap: sum == or


def _length_variants(canon_read: str) -> np.ndarray:
    """uint64 keys of every canonical plate one character shorter or longer than the read (unsorted).

    Insertions are bit arithmetic on the read's key: keep the characters before slot j, shift the
    rest down one character, put each alphabet character in slot j.
    """
    size = len(canon_read)
    if size > MAX_PLATE_LEN:          # only deletions can fit the key width
        return np.sort(np.array([canonical_key(canon_read[:i] + canon_read[i + 1:]) for i in range(size)],
                                dtype=np.uint64))
    key = canonical_key(canon_read)
    parts = []
    if size < MAX_PLATE_LEN:
        top = _TOP[:size + 1]
        base = (key & top) | ((key & ~top) >> _FIVE)
        parts.append((base[:, None] | (_ALPHA_CODES[None, :] << _AT[:size + 1, None])).ravel())
    if size >= 2:                     # drop character j: keep 0..j-1, move j+1.. up one character
        parts.append((key & _TOP[:size]) | ((key & ~_TOP[1:size + 1]) << _FIVE))
    # sorted keys let searchsorted reuse its last position: about twice as fast as unsorted
    return np.sort(np.concatenate(parts)) if parts else np.empty(0, dtype=np.uint64)
