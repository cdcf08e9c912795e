"""Run markers: a row written when the daemon starts, refreshed by a heartbeat, closed at a clean stop.

A row still open at the next start is an unclean stop (power cut, kill -9, a crash): the next run
records it as an event with what was in flight at the last heartbeat. The row also carries the
clock a run trusted, so the next run in the same boot (monotonic time still comparable) sees a
wall-clock step that happened while the daemon was down.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from firmware.clock import iso_utc

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")


def boot_id_of(clock) -> str | None:
    """The boot whose monotonic clock `clock` reads: the kernel's for the system clock; a test clock
    may say its own (`boot_id()`), so two ManualClocks are two boots."""
    own = getattr(clock, "boot_id", None)
    if callable(own):
        return own()
    try:
        return BOOT_ID_PATH.read_text().strip() or None
    except OSError:
        return None


@dataclass(frozen=True)
class RunInfo:
    id: str
    boot_id: str | None
    started_at: datetime
    first_read_rowid: int
    flag_from_rowid: int
    inherited_base_offset_s: float | None   # the clock an earlier run of this boot trusted
    previous: dict | None                   # the run before this one, as stored
    unclean: bool                           # the previous run never reached a clean stop


def begin_run(conn: sqlite3.Connection, *, now: datetime, mono_ns: int, boot_id: str | None,
              version: str) -> RunInfo:
    """Inside the caller's transaction: find the previous run, open this one."""
    previous = conn.execute("SELECT * FROM unit_runs ORDER BY rowid DESC LIMIT 1").fetchone()  # not by wall time
    previous = dict(previous) if previous else None
    # any run left open, not just the last: each is one unclean stop (closed now, so counted once)
    open_runs = [dict(r) for r in conn.execute("SELECT id FROM unit_runs WHERE stopped_at IS NULL")]
    max_rowid = conn.execute("SELECT coalesce(max(rowid), 0) FROM reads").fetchone()[0]
    same_boot = previous is not None and boot_id is not None and previous["boot_id"] == boot_id
    flag_from = previous["flag_from_rowid"] if same_boot else max_rowid
    inherited = previous["clock_base_offset_s"] if same_boot else None
    run_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO unit_runs (id, pid, version, boot_id, started_at, started_mono_ns, seen_at, seen_mono_ns,"
        " first_read_rowid, flag_from_rowid) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (run_id, os.getpid(), version, boot_id, iso_utc(now), mono_ns, iso_utc(now), mono_ns, max_rowid, flag_from))
    return RunInfo(run_id, boot_id, now, max_rowid, flag_from, inherited, previous, bool(open_runs))


def close_unclean(conn: sqlite3.Connection, run_id: str) -> list[dict]:
    """Mark every other open run as ended (at its last heartbeat); returns them for the event."""
    rows = [dict(r) for r in conn.execute(
        "SELECT id, pid, version, started_at, seen_at, pending FROM unit_runs WHERE stopped_at IS NULL AND id != ?",
        (run_id,))]
    for row in rows:
        conn.execute("UPDATE unit_runs SET stopped_at = seen_at WHERE id = ?", (row["id"],))
        row["pending"] = json.loads(row["pending"] or "{}")
    return rows


def heartbeat(conn: sqlite3.Connection, run_id: str, *, now: datetime, mono_ns: int, pending: dict) -> None:
    conn.execute("UPDATE unit_runs SET seen_at = ?, seen_mono_ns = ?, pending = ? WHERE id = ?",
                 (iso_utc(now), mono_ns, json.dumps(pending, default=str), run_id))


def set_clock(conn: sqlite3.Connection, run_id: str, *, base_offset_s: float, suspect: list[str] | None,
              flag_from_rowid: int) -> None:
    conn.execute("UPDATE unit_runs SET clock_base_offset_s = ?, clock_suspect = ?, flag_from_rowid = ? WHERE id = ?",
                 (base_offset_s, json.dumps(suspect) if suspect else None, flag_from_rowid, run_id))


def end_run(conn: sqlite3.Connection, run_id: str, *, now: datetime, mono_ns: int, pending: dict) -> None:
    conn.execute("UPDATE unit_runs SET stopped_at = ?, seen_at = ?, seen_mono_ns = ?, pending = ? WHERE id = ?",
                 (iso_utc(now), iso_utc(now), mono_ns, json.dumps(pending, default=str), run_id))


def latest_run(conn: sqlite3.Connection, boot_id: str | None) -> dict | None:
    """The newest run of this boot (the daemon now running, or the last one), for the CLI's clock check."""
    if boot_id is None:
        return None
    row = conn.execute("SELECT * FROM unit_runs WHERE boot_id = ? ORDER BY rowid DESC LIMIT 1",
                       (boot_id,)).fetchone()
    return dict(row) if row else None
