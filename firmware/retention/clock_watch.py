"""The daemon's watch on its wall clock: the facts for `clock_trust.judge_clock`, gathered, and the
reads a stepped clock stamped, flagged so no age rule can take them early.

Each check compares the wall clock with monotonic time against the offset this boot trusts (set at
the first run of the boot, carried by `unit_runs`, moved only when GPS time confirms the clock),
asks the GNSS service for GPS time, and reads the newest unflagged read and the last purge. Any
offset the clock has shown during this boot may be the true one and may have stamped a read, so a
read is flagged with the latest time it may really have been taken: its stamp plus the largest
offset seen minus the smallest offset in force while it was stored (kept per window of rowids, in
memory). Purge measures a flagged read's age from that time: late, never early.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import datetime, timedelta
from typing import Callable

from firmware.clock import iso_utc, parse_iso_utc
from firmware.retention.clock_trust import BASIS_GPS, ClockFacts, ClockVerdict, judge_clock
from firmware.storage import runs
from firmware.storage.runs import RunInfo

log = logging.getLogger(__name__)
OnEvent = Callable[[str, str, dict], None]


def db_clock_facts(conn: sqlite3.Connection) -> tuple[datetime | None, datetime | None]:
    """(newest capture time of a read not flagged suspect, start of the newest purge run)."""
    newest = conn.execute("SELECT captured_at FROM reads WHERE clock_suspect = 0"
                          " ORDER BY captured_at DESC LIMIT 1").fetchone()
    purge = conn.execute("SELECT started_at FROM purge_runs ORDER BY rowid DESC LIMIT 1").fetchone()
    return (parse_iso_utc(newest[0]) if newest else None, parse_iso_utc(purge[0]) if purge else None)


def flag_reads(conn: sqlite3.Connection, lo_rowid: int, hi_rowid: int | None, shift_s: float) -> int:
    """Reads lo < rowid <= hi may have been taken up to shift_s after their stamp: flag them so.
    A read already flagged later than that keeps its later time. Returns how many changed."""
    hi = hi_rowid if hi_rowid is not None else 2**62
    changed = []
    for rowid, captured, latest in conn.execute(
            "SELECT rowid, captured_at, captured_at_latest FROM reads WHERE rowid > ? AND rowid <= ?", (lo_rowid, hi)):
        candidate = iso_utc(parse_iso_utc(captured) + timedelta(seconds=shift_s))
        if latest is None or candidate > latest:
            changed.append((candidate, rowid))
    conn.executemany("UPDATE reads SET clock_suspect = 1, captured_at_latest = ? WHERE rowid = ?", changed)
    return len(changed)


def flag_future_reads(conn: sqlite3.Connection, after: datetime) -> int:
    """With the clock confirmed by GPS, reads stamped ahead of it were stamped by a clock that ran
    fast: flag them (their stamp is already the latest they can be) so they stop contradicting."""
    return conn.execute("UPDATE reads SET clock_suspect = 1, captured_at_latest = captured_at"
                        " WHERE clock_suspect = 0 AND captured_at > ?", (iso_utc(after),)).rowcount


def max_read_rowid(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT coalesce(max(rowid), 0) FROM reads").fetchone()[0]


class ClockWatch:
    def __init__(self, clock, run_job, tolerance_s: float, gps_offset: Callable[[], float | None] | None = None,
                 run: RunInfo | None = None, on_event: OnEvent | None = None):
        self.clock = clock
        self.run_job = run_job
        self.tolerance_s = tolerance_s
        self.gps_offset = gps_offset
        self.run_id = run.id if run else None
        self.on_event = on_event
        offset = self._offset()
        self.base_offset = run.inherited_base_offset_s if run and run.inherited_base_offset_s is not None else offset
        self.flag_from = run.flag_from_rowid if run else run_job(max_read_rowid)
        self.first_rowid = run.first_read_rowid if run else self.flag_from
        self.last_rowid = self.first_rowid
        self.last_offset = self.base_offset      # the offset in force when the last check ended
        self.offsets = [self.base_offset]        # every offset seen since flag_from (min and max matter)
        self.windows: list[list] = []            # [lo, hi, min offset in force while they were stored]
        self.verdict: ClockVerdict | None = None
        self.flagged = 0
        self._range = (self.base_offset, self.base_offset)   # offsets the flags in the database allow for

    def _offset(self) -> float:
        return self.clock.utc().timestamp() - self.clock.monotonic_ns() / 1e9

    def _flag(self, newest_rowid: int) -> int:
        """Flag what the offsets seen so far require: every span when the range of offsets changed,
        else only reads stored since the last check."""
        tol = self.tolerance_s
        low_all, high_all = min(self.offsets), max(self.offsets)
        moved = abs(low_all - self._range[0]) > tol or abs(high_all - self._range[1]) > tol
        # reads of earlier runs of this boot: the offset that stamped them is unknown, so the smallest
        spans = [[self.flag_from, self.first_rowid, low_all]] + self.windows
        changed = 0
        for lo, hi, low in spans:
            # once the clock has moved in this boot every read of it is suspect; a read stamped while
            # the offset was at its largest is flagged with its own stamp as the latest it can be
            shift = max(0.0, high_all - low)
            if hi <= lo or high_all - low_all <= tol or not (moved or hi > self.last_rowid):
                continue
            changed += self.run_job(lambda conn, lo=lo, hi=hi, s=shift: flag_reads(conn, lo, hi, s))
        if moved:
            self._range = (low_all, high_all)
        return changed

    def check(self) -> ClockVerdict:
        now = self.clock.utc()
        offset = now.timestamp() - self.clock.monotonic_ns() / 1e9
        gps = self.gps_offset() if self.gps_offset else None
        newest_rowid = self.run_job(max_read_rowid)
        low = min(self.last_offset, offset)
        if newest_rowid > self.last_rowid:
            last = self.windows[-1] if self.windows else None
            if last and abs(last[2] - low) <= self.tolerance_s and last[1] == self.last_rowid:
                self.windows[-1][1] = newest_rowid
            else:
                self.windows.append([self.last_rowid, newest_rowid, low])
        self.offsets = [min(self.offsets + [offset]), max(self.offsets + [offset])]
        if gps is not None:
            self.offsets = [min(self.offsets + [offset + gps]), max(self.offsets + [offset + gps])]
        newest_at, last_purge = self.run_job(db_clock_facts)
        if newest_at is not None and (newest_at - now).total_seconds() > self.tolerance_s:
            # the unit stored a read stamped later than now: this clock may be behind by that much
            ahead = (newest_at - now).total_seconds()
            self.offsets = [self.offsets[0], max(self.offsets[1], offset + ahead)]
        self.flagged += self._flag(newest_rowid)
        self.last_rowid, self.last_offset = newest_rowid, offset
        newest_at, last_purge = self.run_job(db_clock_facts)   # after flagging: what is left unflagged
        verdict = judge_clock(ClockFacts(now=now, tolerance_s=self.tolerance_s, gps_offset_s=gps,
                                         step_s=offset - self.base_offset, newest_read_at=newest_at,
                                         last_purge_at=last_purge))
        if verdict.trusted and verdict.basis == BASIS_GPS:
            # GPS time confirms this clock: it is the base from here on; reads stored from now on are
            # stamped by it, and reads stamped ahead of it came from a clock that ran fast
            self.base_offset = offset
            ahead_of = now + timedelta(seconds=self.tolerance_s)
            self.flagged += self.run_job(lambda conn: flag_future_reads(conn, ahead_of))
            self.flag_from = self.first_rowid = self.last_rowid = newest_rowid
            self.offsets, self.windows, self._range = [offset], [], (offset, offset)
        self._transition(verdict)
        if self.run_id is not None:
            self.run_job(lambda conn: runs.set_clock(conn, self.run_id, base_offset_s=self.base_offset,
                                                     suspect=list(verdict.reasons) or None,
                                                     flag_from_rowid=self.flag_from))
        self.verdict = verdict
        return verdict

    def _transition(self, verdict: ClockVerdict) -> None:
        was = self.verdict.trusted if self.verdict is not None else True
        if verdict.trusted == was or self.on_event is None:
            return
        if verdict.trusted:
            self.on_event("back_in_service", "clock", {"reason": "clock trusted again", "basis": verdict.basis})
        else:
            self.on_event("malfunction", "clock", {"reason": "clock_suspect", "why": list(verdict.reasons),
                                                   "reads_flagged": self.flagged})


def standalone_verdict(conn: sqlite3.Connection, clock, tolerance_s: float) -> ClockVerdict:
    """For a purge outside the daemon (`alpr-unit purge`): the database's facts, and the clock the
    newest run of this boot trusted (a step since then shows against monotonic time) and whether
    that daemon reported its clock suspect."""
    now = clock.utc()
    newest_at, last_purge = db_clock_facts(conn)
    run = runs.latest_run(conn, runs.boot_id_of(clock))
    step, reported = None, ()
    if run is not None and run["clock_base_offset_s"] is not None:
        step = now.timestamp() - clock.monotonic_ns() / 1e9 - run["clock_base_offset_s"]
        if run["clock_suspect"] and run["stopped_at"] is None:
            reported = tuple(f"the running daemon reports: {r}" for r in json.loads(run["clock_suspect"]))
    return judge_clock(ClockFacts(now=now, tolerance_s=tolerance_s, step_s=step, newest_read_at=newest_at,
                                  last_purge_at=last_purge, reported=reported))


def refusal_report(report: dict, seconds: float) -> dict:
    """The purge report of a run that deleted nothing, same shape as a real one."""
    report.update({
        "refused": "clock_suspect", "interrupted": False, "held": 0, "lost_unsynced": 0,
        "reads": {"purged": 0, "kept": 0, "by_reason": {}}, "audit": {"purged": 0, "kept_past_retention": {}},
        "hits_purged_by_disposition": {}, "kept_by_hold": {}, "outbox_acked_events_purged": 0, "orphan_images": 0,
        "reads_examined": 0, "outbox_rows_purged": 0, "images_deleted": 0, "images_missing": 0, "images_failed": 0,
        "purged_by_kind": {k: 0 for k in ("reads", "hits", "outbox", "images", "orphan_images", "audit")},
        # the leftovers step (retention/leftovers.py) did not run either
        "alert_files": {"files": 0, "lines_purged": 0, "files_deleted": 0}, "manual_entries_deleted": 0,
        "seconds": seconds, "jobs": 0, "longest_job_s": 0.0, "job_s_by_phase": {}})
    return report


def record_refusal(conn: sqlite3.Connection, unit_id: str, now: datetime, verdict: ClockVerdict) -> None:
    from firmware.retention.audit import append_audit
    from firmware.retention.maintenance import store_event

    detail = {"reason": "clock_suspect", "action": "purge refused: nothing deleted", "why": list(verdict.reasons)}
    store_event(conn, kind="malfunction", source="clock", detail=detail, at=now)
    append_audit(conn, unit_id=unit_id, event="purge_refused", at=now, user="system", purpose="retention",
                 detail=detail)
