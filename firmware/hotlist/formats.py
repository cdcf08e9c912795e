"""Hotlist file formats: delimited and fixed-width without a header (a column map), CSV with a header,
and NCIC `CODE/value` records. Parsing is a generator of rows or per-line errors, so one bad line is
reported with its number and never aborts a load, and a 2,000,000-line file is never held in memory.

Format SPEC strings (CLI `--format`, or a name from `hotlist.formats` in the unit config):
  csv [delim=,]                         header row names the columns
  delimited delim=; cols=plate,state    no header; delim is one of ; , : tab
  fixed cols=plate:1:8,state:9:2        no header; name:start:length, start counted from 1
  ncic [delim=.]                        fields written CODE/value (LIC/ABC123.LIS/CA.MKE/SV ...)
Column names: plate (PlateNumber, LIC, tag), state (PlateState, LIS), category (Category),
effective (EffectiveDate), expiry (ExpiryDate, EXP); `-` skips a column; anything else (NIC, ORI,
OCA, MKE, VMA, VCO, LIT, VIN...) is kept as an annotation shown with a hit.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Iterable, Iterator

from firmware.hotlist.match import JUNK_PLATES, MAX_PLATE_LEN, entry_problem, normalise_entry
from firmware.hotlist.textfile import BadLine, TextInfo, text_lines  # noqa: F401 - re-exported for callers

ALIASES = {
    "plate": "plate", "platenumber": "plate", "plate_number": "plate", "lic": "plate", "tag": "plate",
    "license": "plate", "licenseplate": "plate",
    "state": "state", "platestate": "state", "plate_state": "state", "lis": "state",
    "category": "category", "hotlistcategory": "category",
    "effective": "effective", "effectivedate": "effective", "effective_date": "effective",
    "expiry": "expiry", "expirydate": "expiry", "expiry_date": "expiry", "expires": "expiry", "exp": "expiry",
    "-": "-", "_": "-", "": "-",
}
DELIMITERS = {";": ";", ",": ",", ":": ":", "tab": "\t", "\\t": "\t", "\t": "\t", ".": ".", "|": "|"}


class FormatError(ValueError):
    """The SPEC itself is wrong (exit 2), as opposed to a bad line in the file."""


@dataclass(frozen=True)
class FormatSpec:
    kind: str                                      # csv | delimited | fixed | ncic
    delimiter: str = ";"
    columns: tuple[str, ...] = ("plate", "state")  # delimited: in file order
    fields: tuple[tuple[str, int, int], ...] = ()  # fixed: (name, start0, length)


@dataclass(slots=True)
class Row:
    line: int
    plate: str
    state: str | None
    category: str | None
    effective: datetime | None
    expiry: datetime | None
    annotations: dict | None


@dataclass
class BadRow:
    line: int
    reason: str
    junk: bool = False


def column_name(name: str) -> str:
    key = name.strip()
    alias = ALIASES.get(key.lower())
    if alias:
        return alias
    return key.upper() if len(key) == 3 and key.isalpha() else key


def parse_spec(spec: str) -> FormatSpec:
    words = spec.split()
    if not words or words[0] not in ("csv", "delimited", "fixed", "ncic"):
        raise FormatError(f"format must start with csv, delimited, fixed or ncic: {spec!r}")
    kind, opts = words[0], {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep or key not in ("delim", "cols"):
            raise FormatError(f"unknown format option {word!r} (delim=..., cols=...)")
        opts[key] = value
    delim = opts.get("delim", {"csv": ",", "ncic": "."}.get(kind, ";"))
    if delim not in DELIMITERS:
        raise FormatError(f"delimiter must be one of ; , : tab . |, not {delim!r}")
    delim = DELIMITERS[delim]
    if kind == "fixed":
        fields = []
        for item in opts.get("cols", "").split(","):
            try:
                name, start, length = item.split(":")
                start_i, length_i = int(start), int(length)
            except ValueError:
                raise FormatError(f"fixed column must be name:start:length, not {item!r}") from None
            if start_i < 1 or length_i < 1:
                raise FormatError(f"fixed column {item!r}: start and length count from 1")
            fields.append((column_name(name), start_i - 1, length_i))
        if "plate" not in [f[0] for f in fields]:
            raise FormatError("fixed format needs a plate column")
        return FormatSpec(kind, delim, fields=tuple(fields))
    if kind == "delimited":
        cols = tuple(column_name(c) for c in opts.get("cols", "plate,state").split(","))
        if "plate" not in cols:
            raise FormatError("delimited format needs a plate column")
        return FormatSpec(kind, delim, columns=cols)
    return FormatSpec(kind, delim)


def guess_spec(first_line: str) -> FormatSpec:
    """No --format: NCIC records, a CSV header, or Cloudrunner-style `PLATE;STATE[;CATEGORY...]` rows."""
    if "LIC/" in first_line.upper():
        return FormatSpec("ncic", ".")
    for delim in ("\t", ";", ",", ":", "|"):
        if delim in first_line:
            break
    else:
        delim = ";"
    cells = [column_name(c) for c in first_line.strip().split(delim)]
    if "plate" in cells:
        return FormatSpec("csv", delim)
    # Headerless: plate[;state[;category]], further fields kept as annotations F4, F5...
    width = max(len(cells), 2)
    names = ("plate", "state", "category") + tuple(f"F{i}" for i in range(4, width + 1))
    return FormatSpec("delimited", delim, columns=names[:width])


def parse_date(text: str, end_of_day: bool) -> datetime:
    """ISO dates/times (UTC unless an offset is given), YYYYMMDD or MM/DD/YYYY. A bare expiry date
    is valid through that whole day (UTC)."""
    text = text.strip()
    for fmt in ("%Y-%m-%d", "%Y%m%d", "%m/%d/%Y"):
        try:
            day = datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
        return day + timedelta(days=1) if end_of_day else day
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


_CORE = ("plate", "state", "category", "effective", "expiry")


def _row(line: int, raw_plate: str | None, raw_state: str | None, raw_category: str | None,
         raw_effective: str | None, raw_expiry: str | None, notes: dict | None) -> Row | BadRow:
    if raw_plate is None:
        return BadRow(line, "no plate column on this line")
    plate = raw_plate.strip().upper()
    # Fast path (nearly every row of a real list): already letters and digits only.
    if not (plate.isalnum() and plate.isascii()) or plate in JUNK_PLATES or len(plate) > MAX_PLATE_LEN:
        problem = entry_problem(raw_plate)
        if problem:
            return BadRow(line, "junk plate (NONE/UNK/empty)" if problem == "junk" else problem, problem == "junk")
        plate = normalise_entry(raw_plate)
    state = raw_state.strip().upper() if raw_state else None
    if state and (len(state) > 3 or not state.isalnum()):
        return BadRow(line, "state must be 1-3 letters or digits")
    category = raw_category.strip() if raw_category else None
    effective = expiry = None
    try:
        if raw_effective and raw_effective.strip():
            effective = parse_date(raw_effective, False)
    except ValueError:
        return BadRow(line, "effective date not understood")
    try:
        if raw_expiry and raw_expiry.strip():
            expiry = parse_date(raw_expiry, True)
    except ValueError:
        return BadRow(line, "expiry date not understood")
    return Row(line, plate, state or None, category or None, effective, expiry, notes or None)


def _from_values(line: int, values: dict[str, str]) -> Row | BadRow:
    core = [values.pop(k, None) for k in _CORE]
    values.pop("-", None)
    notes = {k: v.strip() for k, v in values.items() if v and v.strip()}
    return _row(line, *core, notes)


def _delimited_rows(numbered, spec: FormatSpec) -> Iterator[Row | BadRow]:
    cols = spec.columns
    width = len(cols)
    where = [cols.index(k) if k in cols else None for k in _CORE]
    extra = [(i, name) for i, name in enumerate(cols) if name not in _CORE and name != "-"]
    delim = spec.delimiter
    pi, si, ci = where[0], where[1], where[2]
    # The fast path covers plate/state/category layouts with clean values: ~all rows of a 2M-row load.
    simple = where[3] is None and where[4] is None and not extra
    need = max(i for i in (pi, si, ci) if i is not None) + 1
    junk, max_len = JUNK_PLATES, MAX_PLATE_LEN
    for n, line in numbered:
        if line.__class__ is BadLine:
            yield BadRow(n, line.reason)
            continue
        if '"' in line:
            cells = _quoted_cells(line, delim)
            if cells is None:
                yield BadRow(n, "unbalanced quotes")
                continue
        else:
            cells = line.split(delim)
        size = len(cells)
        if size > width and any(c.strip() for c in cells[width:]):
            yield BadRow(n, f"{size} fields, the layout has {width}")
            continue
        if simple and size >= need:
            plate = cells[pi].strip().upper()
            if plate.isalnum() and plate.isascii() and len(plate) <= max_len and plate not in junk:
                state = cells[si].strip().upper() if si is not None else ""
                if not state or (len(state) <= 3 and state.isalnum()):
                    category = cells[ci].strip() if ci is not None else ""
                    yield Row(n, plate, state or None, category or None, None, None, None)
                    continue
        core = [cells[i] if i is not None and i < size else None for i in where]
        notes = None
        if extra:
            notes = {name: cells[i].strip() for i, name in extra if i < size and cells[i].strip()}
        yield _row(n, *core, notes)


def _quoted_cells(line: str, delim: str) -> list[str] | None:
    """A line with quotes, split as CSV; None when the csv module cannot make sense of it."""
    if line.count('"') % 2:
        return None                      # an opening quote never closed: the row's end is unknowable
    try:
        return next(csv.reader([line], delimiter=delim), [])
    except csv.Error:
        return None


def _numbered(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """(line number, text) of the lines that carry data: blank and `#` comment lines are skipped.
    A BadLine (not text) is passed on for the caller to report."""
    for n, line in enumerate(lines, start=1):
        if line.__class__ is BadLine:
            yield n, line
            continue
        line = line.rstrip("\r\n")
        if line and not line.isspace() and line.lstrip()[:1] != "#":
            yield n, line


def _first_text(numbered) -> Iterator[tuple[int, str]]:
    """Bad rows for unreadable lines before the first readable one, then that line (as a tuple)."""
    for n, line in numbered:
        if line.__class__ is BadLine:
            yield BadRow(n, line.reason)
            continue
        yield (n, line)
        return


def parse_lines(lines: Iterable[str], spec: FormatSpec | None) -> Iterator[Row | BadRow]:
    """Rows of a file's lines (text, newline kept or not). Blank and `#` lines are skipped silently."""
    numbered = _numbered(lines)
    if spec is None:
        first = None
        for item in _first_text(numbered):
            if isinstance(item, BadRow):
                yield item
            else:
                first = item
        if first is None:
            return
        spec = guess_spec(first[1])
        numbered = _chain(first, numbered)
    if spec.kind == "csv":
        header = None
        for item in _first_text(numbered):
            if isinstance(item, BadRow):
                yield item
            else:
                header = item
        if header is None:
            return
        cells = _quoted_cells(header[1], spec.delimiter)
        columns = tuple(column_name(c) for c in cells or ())
        if "plate" not in columns:
            yield BadRow(header[0], "CSV header names no plate column (plate, PlateNumber or LIC)")
            return
        spec = FormatSpec("csv", spec.delimiter, columns=columns)
    if spec.kind in ("csv", "delimited"):
        yield from _delimited_rows(numbered, spec)
        return
    for n, line in numbered:
        if line.__class__ is BadLine:
            yield BadRow(n, line.reason)
            continue
        if spec.kind == "fixed":
            if len(line) <= next(start for name, start, _ in spec.fields if name == "plate"):
                yield BadRow(n, "line shorter than the fixed-width layout")
                continue
            values = {name: line[start:start + length] for name, start, length in spec.fields if name != "-"}
        else:  # ncic
            values = {}
            for part in line.split(spec.delimiter):
                code, sep, value = part.partition("/")
                if sep and code.strip():
                    values[column_name(code)] = value
        yield _from_values(n, values)


def _chain(first, rest):
    yield first
    yield from rest
