"""Full-list replacement in small transactions, for the daemon's single writer (and a CLI beside it).

`store.import_hotlist` loads a file in the caller's one transaction: right for incremental loads and
small lists, but a 2,000,000-row NCIC refresh holds SQLite's write lock for ~10 s (more on a Pi),
and every read the cameras produce meanwhile waits behind it. Here the rows go into a hidden staging
list in batches (each its own short transaction), one short transaction makes the staging list the
list (swap of two `hotlists` rows: matching sees the old or the new version, never a mix), and the
retired version's rows are then deleted in batches. Historical hits are found outside any
transaction, from an index built while the rows stream past.

`run(job)` executes `job(conn)` in one transaction: `writer.call` in the daemon,
`lambda job: transaction(conn, job)` in a CLI tool.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Callable

from firmware.clock import iso_utc
from firmware.hotlist.formats import FormatSpec, parse_spec
from firmware.hotlist.index import IndexBuilder
from firmware.hotlist.match import MatchOptions
from firmware.hotlist.store import (
    ImportReport, _epoch, _new_version, _sha256, audit_text_detail, ensure_list, insert_rows, iter_batches, log,
    nothing_usable, past_hits, record_past_hits,
)
from firmware.retention.audit import append_audit

DELETE_BATCH = 20_000


def import_hotlist_staged(run: Callable, source: Path | bytes, *, name: str, fmt: str | None = None,
                          list_source: str = "agency", category: str | None = None, priority: int = 50,
                          alert: str = "audible", at: datetime, unit_id: str, user: str | None = None,
                          options: MatchOptions | None = None, formats: dict[str, str] | None = None,
                          historical: bool = True, allow_empty: bool = False,
                          batch_rows: int = 20_000, on_swap: Callable | None = None) -> ImportReport:
    """Replace list `name` with the file's rows without one long write transaction. Same report,
    version, audit and historical hits as `import_hotlist(mode="replace")`.

    `on_swap(conn, report)` runs inside the swap's transaction, so what the caller records about the
    load (a downlink's sequence number) commits with it or not at all; raising there abandons the load.
    """
    started = time.perf_counter()
    spec: FormatSpec | None = parse_spec((formats or {}).get(fmt, fmt)) if fmt else None
    report = ImportReport(name, "replace", sha256=_sha256(source),
                          file_name=None if isinstance(source, bytes) else Path(source).name)
    # validate the list attributes before any work (ensure_list raises HotlistError)
    run(lambda conn: _check_attributes(conn, name, at, list_source, category, priority, alert))
    staging_name = f"~staging~{uuid.uuid4().hex}"
    staging_id = run(lambda conn: conn.execute(
        "INSERT INTO hotlists (name, source, category, priority, alert, staging, created_at) VALUES (?,?,?,?,?,1,?)",
        (staging_name, list_source, category, priority, alert, iso_utc(at))).lastrowid)
    has_reads = historical and run(lambda conn: conn.execute("SELECT 1 FROM reads LIMIT 1").fetchone()) is not None
    builder = IndexBuilder() if has_reads else None
    try:
        for batch in iter_batches(source, spec, report, size=batch_rows):
            run(lambda conn, b=batch: insert_rows(conn, staging_id, b))
            if builder is not None:
                builder.add_rows([(0, p, s, c, _epoch(e), _epoch(x)) for p, s, c, e, x, _ in batch])
        refusal = nothing_usable(name, "replace", report, allow_empty)
        if refusal is not None:
            raise refusal
        def swap(conn):
            old = _swap_in(conn, staging_id, report, name=name, at=at, unit_id=unit_id, user=user,
                           list_source=list_source, category=category, priority=priority, alert=alert)
            if on_swap is not None:
                on_swap(conn, report)
            return old

        retired = run(swap)
    except BaseException:
        _delete_list(run, staging_id)
        raise
    if retired is not None:
        _delete_list(run, retired)
    if builder is not None:
        index = builder.build()
        reads = run(lambda conn: conn.execute("SELECT id, plate, state FROM reads").fetchall())
        found = past_hits(reads, index, options or MatchOptions(), at)
        if found:
            report.historical_hits = run(lambda conn: record_past_hits(
                conn, conn.execute("SELECT * FROM hotlists WHERE id = ?", (staging_id,)).fetchone(), found, at=at))
    report.duration_s = round(time.perf_counter() - started, 3)
    log.info("hotlist imported", extra={"event": "hotlist.import", "list": name, "mode": "replace-staged",
                                        "version": report.version, "accepted": report.accepted, "bad": report.bad,
                                        "junk": report.junk, "entries": report.entries,
                                        "duration_s": report.duration_s})
    return report


def _check_attributes(conn, name, at, list_source, category, priority, alert) -> None:
    conn.execute("SAVEPOINT check_list")
    try:
        ensure_list(conn, name, at=at, source=list_source, category=category, priority=priority, alert=alert)
    finally:
        conn.execute("ROLLBACK TO check_list")
        conn.execute("RELEASE check_list")


def _swap_in(conn, staging_id: int, report: ImportReport, *, name: str, at: datetime, unit_id: str,
             user: str | None, list_source: str, category: str | None, priority: int, alert: str) -> int | None:
    """One short transaction: the staging list takes the name, history and next version of the old one."""
    old = conn.execute("SELECT * FROM hotlists WHERE name = ? AND staging = 0", (name,)).fetchone()
    version_before = 0
    if old is not None:
        version_before = old["version"]
        conn.execute("UPDATE hotlists SET name = ?, staging = 1 WHERE id = ?", (f"~retired~{uuid.uuid4().hex}",
                                                                               old["id"]))
        conn.execute("UPDATE hotlist_versions SET list_id = ? WHERE list_id = ?", (staging_id, old["id"]))
    conn.execute("UPDATE hotlists SET name = ?, staging = 0, version = ?, source = ?, category = ?, priority = ?,"
                 " alert = ? WHERE id = ?", (name, version_before, list_source, category, priority, alert, staging_id))
    row = conn.execute("SELECT * FROM hotlists WHERE id = ?", (staging_id,)).fetchone()
    summary = {k: v for k, v in report.as_dict().items() if k != "errors"}
    report.version, report.entries = _new_version(conn, row, mode="replace", at=at, sha256=report.sha256,
                                                  file_name=report.file_name, report=summary)
    append_audit(conn, unit_id=unit_id, event="hotlist.import", at=at, user=user, detail={
        "list": name, "mode": "replace", "version": report.version, "sha256": report.sha256,
        "file": report.file_name, "accepted": report.accepted, "bad": report.bad, "junk": report.junk,
        "removed": 0, "entries": report.entries, "staged": True, **audit_text_detail(report)})
    return None if old is None else old["id"]


def _delete_list(run: Callable, list_id: int) -> None:
    """Delete a staging or retired list's rows a batch at a time, then the list row itself."""
    while run(lambda conn: conn.execute(
            "DELETE FROM hotlist_entries WHERE id IN (SELECT id FROM hotlist_entries WHERE list_id = ? LIMIT ?)",
            (list_id, DELETE_BATCH)).rowcount):
        pass
    run(lambda conn: conn.execute("DELETE FROM hotlists WHERE id = ? AND staging = 1", (list_id,)))


def purge_abandoned(run: Callable) -> int:
    """Remove staging/retired lists left by a load that was interrupted (power loss): call at start-up."""
    ids = run(lambda conn: [r[0] for r in conn.execute("SELECT id FROM hotlists WHERE staging = 1")])
    for list_id in ids:
        _delete_list(run, list_id)
    return len(ids)
