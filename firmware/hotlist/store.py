"""Hotlists in SQLite: versioned loads, manual entries, and past-read ("historical") matching.

Every function runs inside the caller's transaction (the daemon's Writer job, or `transaction()` in
the CLI), so a list's entries and its version number change together: a reader either sees the old
version or the new one, never half a list. Every change is audited with who, when and why.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterator

from firmware.clock import iso_utc
from firmware.hotlist.formats import BadRow, FormatSpec, parse_lines, parse_spec, text_lines
from firmware.hotlist.textfile import TextInfo
from firmware.hotlist.index import IndexBuilder, ListIndex
from firmware.hotlist.match import MatchOptions
from firmware.ids import new_id
from firmware.retention.audit import append_audit
from firmware.storage import outbox

log = logging.getLogger(__name__)
MODES = ("replace", "add", "remove")
SOURCES = ("ncic", "agency", "manual")
ALERTS = ("audible", "visual", "silent")
MAX_REPORTED_ERRORS = 1000
_BATCH = 20_000


class HotlistError(ValueError):
    """A request that cannot be honoured as asked (missing reason, unknown entry...): usage, exit 2."""


@dataclass
class ImportReport:
    list_name: str
    mode: str
    version: int = 0
    sha256: str = ""
    file_name: str | None = None
    lines: int = 0
    accepted: int = 0
    removed: int = 0
    junk: int = 0
    bad: int = 0
    entries: int = 0
    historical_hits: int = 0
    duration_s: float = 0.0
    encoding: str = ""                # what the bytes were: "utf-8", "utf-16-le (BOM)", "... read as latin-1"
    newlines: str = ""                # lf | crlf | cr | mixed (...) | none
    binary: bool = False              # the file looks like binary data, not text
    unreadable: int = 0               # lines that cannot be text (NUL or control bytes, overlong): binary data
    errors: list[dict] = field(default_factory=list)   # {"line", "reason"}, the first MAX_REPORTED_ERRORS

    def as_dict(self) -> dict:
        return asdict(self)


def _epoch(text: str | None) -> int | None:
    return None if text is None else int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def _sha256(source: Path | bytes) -> str:
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    digest = hashlib.sha256()
    with open(source, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_list(conn: sqlite3.Connection, name: str, *, at: datetime, source: str = "agency",
                category: str | None = None, priority: int = 50, alert: str = "audible",
                update: bool = True) -> sqlite3.Row:
    if source not in SOURCES:
        raise HotlistError(f"list source must be one of {', '.join(SOURCES)}")
    if alert not in ALERTS:
        raise HotlistError(f"alert must be one of {', '.join(ALERTS)}")
    if not 0 <= priority <= 100:
        raise HotlistError("priority runs from 0 (highest) to 100")
    if not name or len(name) > 64:
        raise HotlistError("list name must be 1-64 characters")
    row = conn.execute("SELECT * FROM hotlists WHERE name = ?", (name,)).fetchone()
    if row is None:
        conn.execute("INSERT INTO hotlists (name, source, category, priority, alert, created_at) VALUES (?,?,?,?,?,?)",
                     (name, source, category, priority, alert, iso_utc(at)))
    elif update:
        conn.execute("UPDATE hotlists SET source=?, category=?, priority=?, alert=? WHERE id=?",
                     (source, category, priority, alert, row["id"]))
    return conn.execute("SELECT * FROM hotlists WHERE name = ?", (name,)).fetchone()


def iter_batches(source: Path | bytes, spec: FormatSpec | None, report: ImportReport,
                 size: int = _BATCH) -> Iterator[list[tuple]]:
    """Accepted rows as (plate, state, category, effective_iso, expiry_iso, annotations_json) batches;
    bad and junk lines are counted (and the first MAX_REPORTED_ERRORS listed) in `report`."""
    batch: list[tuple] = []
    info = TextInfo()
    stream = open(source, "rb") if not isinstance(source, bytes) else None
    try:
        for row in parse_lines(text_lines(stream or source, info=info), spec):
            report.lines = row.line
            if isinstance(row, BadRow):
                if row.junk:
                    report.junk += 1
                else:
                    report.bad += 1
                if len(report.errors) < MAX_REPORTED_ERRORS:
                    report.errors.append({"line": row.line, "reason": row.reason})
                continue
            report.accepted += 1
            batch.append((row.plate, row.state, row.category,
                          iso_utc(row.effective) if row.effective else None,
                          iso_utc(row.expiry) if row.expiry else None,
                          json.dumps(row.annotations, separators=(",", ":")) if row.annotations else None))
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch
    finally:
        if stream:
            stream.close()
        report.encoding, report.newlines, report.binary = info.encoding(), info.newlines(), info.binary
        report.unreadable = info.unreadable_lines + info.overlong_lines


def insert_rows(conn: sqlite3.Connection, list_id: int, batch: list[tuple]) -> None:
    # Binding only the columns a row uses makes a 2M-row load ~2x faster than binding NULLs.
    plain = [(list_id, p, s, c) for p, s, c, e, x, a in batch if e is None and x is None and a is None]
    if plain:
        conn.executemany("INSERT INTO hotlist_entries (list_id, plate, state, category) VALUES (?,?,?,?)", plain)
    if len(plain) < len(batch):
        conn.executemany("INSERT INTO hotlist_entries (list_id, plate, state, category, effective_at,"
                         " expires_at, annotations) VALUES (?,?,?,?,?,?,?)",
                         [(list_id, *r) for r in batch if not (r[3] is None and r[4] is None and r[5] is None)])


def _delete_matching(conn: sqlite3.Connection, list_id: int, batch: list[tuple], *, any_state: bool) -> int:
    """Delete the list's entries with a batch's plates: one pass over the list, joined to a temp table."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS hotlist_keys (plate TEXT NOT NULL, state TEXT)")
    conn.execute("CREATE INDEX IF NOT EXISTS temp.hotlist_keys_plate ON hotlist_keys(plate)")
    conn.execute("DELETE FROM temp.hotlist_keys")
    conn.executemany("INSERT INTO temp.hotlist_keys (plate, state) VALUES (?, ?)", [(p, s) for p, s, *_ in batch])
    state_rule = "(k.state IS NULL OR k.state IS e.state)" if any_state else "k.state IS e.state"
    deleted = conn.execute(f"DELETE FROM hotlist_entries WHERE id IN (SELECT e.id FROM hotlist_entries e JOIN"
                           f" temp.hotlist_keys k ON k.plate = e.plate AND {state_rule} WHERE e.list_id = ?)",
                           (list_id,)).rowcount
    conn.execute("DELETE FROM temp.hotlist_keys")
    return deleted


def nothing_usable(name: str, mode: str, report: ImportReport, allow_empty: bool) -> HotlistError | None:
    """A load to refuse as a whole: one line saying why (mostly binary, empty, every line bad), or None when
    it goes ahead (or accepted nothing and that is what was asked: a replace with allow_empty that clears
    the list).

    Mostly binary: every hotlist format is text, one entry a line (NCIC extracts, Genetec and Vigilant
    exports, CSV; see firmware.hotlist.formats), so a line that cannot be text (NUL or control bytes) is damage, not a variant. A few
    such lines in a real list are reported by number and its other rows load, as always. When they are
    more than half of the file's lines, the file is not a damaged list but something else (an image, an
    archive, random bytes), and the few lines that happen to read as entries are noise (100 KB of random
    bytes gives 2 of 800): loading them would replace the list in force with them.
    """
    what = report.file_name or "the list"
    rows = report.accepted + report.bad + report.junk
    if report.unreadable * 2 > rows:
        return HotlistError(f"{what} is not a text hotlist (binary data: {report.unreadable} of its {rows} lines"
                            f" are not text, encoding {report.encoding}; {report.accepted} read as entries by"
                            f" chance); nothing loaded")
    if report.accepted:
        return None
    if report.binary:
        return HotlistError(f"{what} is not a text hotlist (binary data: {report.bad} unreadable lines,"
                            f" encoding {report.encoding}); nothing loaded")
    if allow_empty and mode == "replace" and not report.bad:
        return None
    if report.lines == 0:
        hint = "; use allow_empty to clear the list" if mode == "replace" else ""
        return HotlistError(f"{what} has no entries (empty file){hint}; nothing loaded")
    if allow_empty and mode == "replace":
        return None
    first = "; ".join(f"line {e['line']}: {e['reason']}" for e in report.errors[:3])
    return HotlistError(f"no usable entry in {what} for list {name!r} ({report.bad} bad, {report.junk} junk lines;"
                        f" encoding {report.encoding}; {first}); nothing loaded")


def _new_version(conn, list_row, *, mode: str, at: datetime, sha256: str | None, file_name: str | None,
                 report: dict) -> tuple[int, int]:
    version = list_row["version"] + 1
    entries = conn.execute("SELECT count(*) FROM hotlist_entries WHERE list_id = ?", (list_row["id"],)).fetchone()[0]
    conn.execute("UPDATE hotlists SET version = ? WHERE id = ?", (version, list_row["id"]))
    conn.execute("INSERT INTO hotlist_versions (list_id, version, mode, sha256, file_name, loaded_at, entries, report)"
                 " VALUES (?,?,?,?,?,?,?,?)", (list_row["id"], version, mode, sha256, file_name, iso_utc(at), entries,
                                               json.dumps(report, default=str)))
    return version, entries


def import_hotlist(conn: sqlite3.Connection, source: Path | bytes, *, name: str, fmt: str | None = None,
                   mode: str = "replace", list_source: str = "agency", category: str | None = None,
                   priority: int = 50, alert: str = "audible", at: datetime, unit_id: str, user: str | None = None,
                   options: MatchOptions | None = None, formats: dict[str, str] | None = None,
                   historical: bool = True, allow_empty: bool = False) -> ImportReport:
    """Load a file as a new version of list `name`. Bad lines are reported by number, never fatal.

    mode: replace (the file is the whole list), add or remove (incremental). `fmt`: a SPEC string or
    a name in `formats`; None guesses from the first line. Reads still on the unit are checked
    against the new entries and hits raised as historical (replace and add). A replace load that
    accepts nothing (a wrong format, a truncated download) is refused unless allow_empty: it would
    silently disarm the list.
    """
    started = time.perf_counter()
    if mode not in MODES:
        raise HotlistError(f"mode must be one of {', '.join(MODES)}")
    spec: FormatSpec | None = None
    if fmt:
        spec = parse_spec((formats or {}).get(fmt, fmt))
    list_row = ensure_list(conn, name, at=at, source=list_source, category=category, priority=priority,
                           alert=alert, update=mode == "replace")
    list_id = list_row["id"]
    report = ImportReport(name, mode, sha256=_sha256(source),
                          file_name=None if isinstance(source, bytes) else Path(source).name)
    id_before = conn.execute("SELECT coalesce(max(id), 0) FROM hotlist_entries").fetchone()[0]
    if mode == "replace":
        conn.execute("DELETE FROM hotlist_entries WHERE list_id = ?", (list_id,))
    for batch in iter_batches(source, spec, report):
        if mode != "replace":
            # remove: a row without state removes the plate in every state; add: replaces the same plate+state
            deleted = _delete_matching(conn, list_id, batch, any_state=mode == "remove")
            if mode == "remove":
                report.removed += deleted
        if mode != "remove":
            insert_rows(conn, list_id, batch)
    refusal = nothing_usable(name, mode, report, allow_empty)
    if refusal is not None:
        raise refusal
    summary = {k: v for k, v in report.as_dict().items() if k != "errors"}
    report.version, report.entries = _new_version(conn, list_row, mode=mode, at=at, sha256=report.sha256,
                                                  file_name=report.file_name, report=summary)
    append_audit(conn, unit_id=unit_id, event="hotlist.import", at=at, user=user, detail={
        "list": name, "mode": mode, "version": report.version, "sha256": report.sha256, "file": report.file_name,
        "accepted": report.accepted, "bad": report.bad, "junk": report.junk, "removed": report.removed,
        "entries": report.entries, **audit_text_detail(report)})
    if historical and mode != "remove" and conn.execute("SELECT 1 FROM reads LIMIT 1").fetchone():
        fresh = load_index(conn, list_id, id_above=id_before)
        list_row = conn.execute("SELECT * FROM hotlists WHERE id = ?", (list_id,)).fetchone()
        report.historical_hits = check_past_reads(conn, list_row, fresh, options or MatchOptions(), at=at)
    report.duration_s = round(time.perf_counter() - started, 3)
    log.info("hotlist imported", extra={"event": "hotlist.import", "list": name, "mode": mode,
                                        "version": report.version, "accepted": report.accepted, "bad": report.bad,
                                        "junk": report.junk, "entries": report.entries,
                                        "duration_s": report.duration_s})
    return report


AUDITED_ERRORS = 20


def audit_text_detail(report: ImportReport) -> dict:
    """What the audit keeps of a load's text: the encoding, line endings and the first bad lines by number."""
    detail = {"encoding": report.encoding, "newlines": report.newlines}
    if report.errors:
        detail["errors"] = report.errors[:AUDITED_ERRORS]
    return detail


def load_index(conn: sqlite3.Connection, list_id: int, *, id_above: int | None = None) -> ListIndex:
    """Build the compact index of a list's entries (or only those with id > id_above), in chunks."""
    builder = IndexBuilder()
    cur = conn.cursor()
    cur.row_factory = None               # plain tuples: sqlite3.Row costs ~1 us a row at this scale
    cur.execute("SELECT id, plate, state, category, effective_at, expires_at FROM hotlist_entries"
                " WHERE +list_id = ? AND id > ?", (list_id, id_above or 0))   # +: scan by rowid, not via the plate index
    while True:
        rows = cur.fetchmany(16_384)
        if not rows:
            break
        if any(r[4] is not None or r[5] is not None for r in rows):
            rows = [(i, p, s, c, _epoch(e), _epoch(x)) for i, p, s, c, e, x in rows]
        builder.add_rows(rows)
    return builder.build()


def list_rows(conn: sqlite3.Connection) -> list[dict]:
    """Every list with its current version's hash, load time and size."""
    rows = conn.execute(
        "SELECT l.*, v.sha256, v.loaded_at, v.entries, v.mode FROM hotlists l LEFT JOIN hotlist_versions v"
        " ON v.list_id = l.id AND v.version = l.version WHERE l.staging = 0 ORDER BY l.priority, l.name").fetchall()
    return [dict(r) for r in rows]


def _hit_payload(hit_id: str, read_id: str, list_row, cand, at: datetime, age_s: float) -> dict:
    m = cand.match
    return {"schema": 1, "id": hit_id, "read_id": read_id, "list_name": list_row["name"],
            "list_version": list_row["version"], "list_age_s": age_s, "entry_plate": cand.plate,
            "entry_state": cand.state, "category": cand.category or list_row["category"],
            "priority": list_row["priority"], "match": m.kind, "positions": list(m.positions),
            "possible": m.possible, "alert": list_row["alert"], "historical": True, "created_at": iso_utc(at)}


def check_past_reads(conn: sqlite3.Connection, list_row, index: ListIndex, options: MatchOptions, *,
                     at: datetime) -> int:
    """Match every read still on the unit against `index`; new hits are stored historical and queued."""
    if not len(index):
        return 0
    reads = conn.execute("SELECT id, plate, state FROM reads").fetchall()
    return record_past_hits(conn, list_row, past_hits(reads, index, options, at), at=at)


def past_hits(reads, index: ListIndex, options: MatchOptions, at: datetime) -> list[tuple[str, object]]:
    """(read_id, candidate) for every (read_id, plate, state) the index hits; no database needed."""
    now_s = int(at.timestamp())
    return [(read_id, cand) for read_id, plate, state in reads for cand in index.lookup(plate, state, now_s, options)]


def record_past_hits(conn: sqlite3.Connection, list_row, found_hits, *, at: datetime) -> int:
    """Store and queue historical hits, skipping any this read already has for the same entry."""
    found = 0
    for read_id, cand in found_hits:
        dup = conn.execute("SELECT 1 FROM hits WHERE read_id=? AND list_name=? AND entry_plate=?"
                           " AND entry_state IS ?", (read_id, list_row["name"], cand.plate, cand.state)).fetchone()
        if dup:
            continue
        hit_id = new_id()
        payload = _hit_payload(hit_id, read_id, list_row, cand, at, 0.0)
        conn.execute(
            "INSERT INTO hits (id, read_id, list_name, list_version, list_age_s, entry_plate, entry_state, category,"
            " priority, match, positions, possible, alert, historical, created_at) VALUES"
            " (?,?,?,?,?,?,?,?,?,?,?,?,?,1,?)",
            (hit_id, read_id, list_row["name"], list_row["version"], 0.0, cand.plate, cand.state,
             payload["category"], list_row["priority"], cand.match.kind, json.dumps(payload["positions"]),
             int(cand.match.possible), list_row["alert"], payload["created_at"]))
        conn.execute("UPDATE reads SET hit = 1 WHERE id = ?", (read_id,))
        outbox.enqueue(conn, "hit", hit_id, payload, at)
        found += 1
    if found:
        log.info("historical hits raised", extra={"event": "hotlist.historical", "list": list_row["name"],
                                                  "hits": found})
    return found


def entry_annotations(conn: sqlite3.Connection, row_id: int) -> dict:
    row = conn.execute("SELECT annotations, reason, added_by, added_at, expires_at, effective_at FROM hotlist_entries"
                       " WHERE id = ?", (row_id,)).fetchone()
    if row is None:
        return {}
    notes = json.loads(row["annotations"]) if row["annotations"] else {}
    for key in ("reason", "added_by", "added_at", "expires_at", "effective_at"):
        if row[key]:
            notes[key] = row[key]
    return notes
