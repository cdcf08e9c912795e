"""Purge: apply the retention rule to every stored read, in small writer jobs, and reclaim the space.

The rule (`policy.decide_read`) is pure; this module only gathers the facts it needs (capture time,
sync state from the outbox, holds), deletes what it says, and accounts for everything it kept and
why. Deletion has to be real: rows go with SQLite `secure_delete` (on for every connection), image
files are unlinked, free pages are returned with `incremental_vacuum`, and the WAL, which still
holds copies of the deleted pages, is checkpointed and truncated.

The same code serves the daemon (jobs through the single `Writer`) and the CLI (its own
connection): it is handed a `run_job(fn)` that runs fn(conn) in one transaction. Batches shrink
when a job runs long, so capture never waits behind a purge for more than about `purge_max_job_s`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, TypeVar

from firmware.clock import Clock, iso_utc, parse_iso_utc
from firmware.retention.audit import append_audit, purge_audit_prefix
from firmware.retention.clock_trust import ClockVerdict
from firmware.retention.config import RetentionConfig
from firmware.retention.holds import hold_facts
from firmware.retention.maintenance import store_event
from firmware.retention.policy import Policy, ReadFacts, candidate_cutoff, decide_audit, decide_read, KEEP_YOUNG

log = logging.getLogger(__name__)
T = TypeVar("T")
RunJob = Callable[[Callable[[sqlite3.Connection], T]], T]

READ_FAMILY_KINDS = ("read", "image", "hit", "disposition")
_AFTER = "\U0010ffff"  # sorts after any character an id can contain: [id, id + _AFTER) is "starts with id"


def policy_from(config: RetentionConfig) -> Policy:
    return Policy(local_retention=timedelta(days=config.local_retention_days),
                  audit_retention=timedelta(days=config.audit_retention_days))


def _outbox_rows(conn: sqlite3.Connection, ids: list[str]) -> dict[str, list[tuple[int, str, bool]]]:
    """Outbox rows of a read's family, by the id they start with: (seq, kind, acked).

    Record ids of images and dispositions may carry a suffix (`<read_id>:crop`), so each id is looked
    up as a prefix range on the (kind, record_id) unique index.
    """
    found: dict[str, list[tuple[int, str, bool]]] = {}
    for rid in ids:
        rows = conn.execute(
            "SELECT seq, kind, acked_at IS NOT NULL FROM outbox WHERE kind IN ('read','image','hit','disposition')"
            " AND record_id >= ? AND record_id < ?", (rid, rid + _AFTER),
        ).fetchall()
        if rows:
            found[rid] = [(r[0], r[1], bool(r[2])) for r in rows]
    return found


class Purger:
    """One purge run's machinery. `run()` returns the report `alpr-unit purge --json` prints."""

    def __init__(self, config: RetentionConfig, data_dir: Path, unit_id: str, clock: Clock, run_job: RunJob,
                 checkpoint: Callable[[], tuple] | None = None, stop_event: threading.Event | None = None,
                 between_jobs: Callable[[], object] | None = None,
                 clock_check: Callable[[], ClockVerdict] | None = None):
        self.config = config
        self.data_dir = Path(data_dir)
        self.unit_id = unit_id
        self.clock = clock
        self.run_job = run_job
        self.checkpoint = checkpoint
        self.stop_event = stop_event or threading.Event()
        self.between_jobs = between_jobs  # the daemon checkpoints the WAL here, off the writer thread
        self.clock_check = clock_check    # the daemon's ClockWatch; else judged from the database alone
        self.policy = policy_from(config)
        self.job_stats: dict[str, dict] = {}
        self.last_job_s = 0.0

    def _job(self, phase: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run one writer job and account for its duration by phase (the stall capture may see)."""
        started = time.perf_counter()
        try:
            return self.run_job(fn)
        finally:
            took = time.perf_counter() - started
            stats = self.job_stats.setdefault(phase, {"jobs": 0, "max_s": 0.0, "total_s": 0.0})
            stats["jobs"] += 1
            stats["max_s"] = max(stats["max_s"], took)
            stats["total_s"] += took
            self.last_job_s = took

    def _adapt(self, size: int, ceiling: int) -> int:
        """Halve the next job when the last one ran past purge_max_job_s, double it when well under."""
        if self.last_job_s > self.config.purge_max_job_s:
            return max(1, size // 2)
        if self.last_job_s < self.config.purge_max_job_s / 4:
            return min(ceiling, size * 2)
        return size

    def _pause(self) -> None:
        """Leave the writer (and the CPU) to capture for a while: purge is never urgent to the second."""
        if self.config.purge_pause_ratio > 0:
            self.stop_event.wait(self.last_job_s * self.config.purge_pause_ratio)

    # -- reads -------------------------------------------------------------------------------------

    def _read_batch(self, conn, after: tuple[str, str], limit: int, cutoff: str, holds, now: datetime,
                    dry_run: bool) -> dict:
        rows = conn.execute(
            "SELECT id, captured_at, captured_at_latest, plate, camera_id, unit_id, crop_path, overview_path FROM reads"
            " WHERE captured_at <= ? AND (captured_at, id) > (?, ?) ORDER BY captured_at, id LIMIT ?",
            (cutoff, after[0], after[1], limit),
        ).fetchall()
        out = {"n": len(rows), "reasons": Counter(), "holds": Counter(), "files": [], "lost": [], "clock_suspect": 0,
               "hits": Counter(), "outbox": 0, "purged": 0, "last": after}
        if not rows:
            return out
        out["last"] = (rows[-1]["captured_at"], rows[-1]["id"])
        ids = [r["id"] for r in rows]
        marks = ",".join("?" * len(ids))
        hits_of: dict[str, list[tuple[str, str | None]]] = {}
        for hit_id, read_id, disposition in conn.execute(
            f"SELECT id, read_id, disposition FROM hits WHERE read_id IN ({marks})", ids
        ):
            hits_of.setdefault(read_id, []).append((hit_id, disposition))
        family = _outbox_rows(conn, ids + [h for hs in hits_of.values() for h, _ in hs])
        doomed, doomed_seqs = [], []
        for r in rows:
            own = family.get(r["id"], []) + [x for h, _ in hits_of.get(r["id"], []) for x in family.get(h, [])]
            # a read stamped by a clock that later stepped ages from the latest time it may have been taken
            captured = max(r["captured_at"], r["captured_at_latest"] or "")
            out["clock_suspect"] += 1 if r["captured_at_latest"] else 0
            facts = ReadFacts(id=r["id"], captured_at=parse_iso_utc(captured), plate=r["plate"],
                              camera_id=r["camera_id"], unit_id=r["unit_id"],
                              queued=any(kind == "read" for _, kind, _ in own),
                              pending=sum(1 for _, _, acked in own if not acked))
            decision = decide_read(facts, holds, now, self.policy)
            out["reasons"][decision.reason] += 1
            if decision.hold_id:
                out["holds"][decision.hold_id] += 1
            if not decision.purge:
                continue
            doomed.append(r["id"])
            doomed_seqs.extend(seq for seq, _, _ in own)
            if decision.data_loss:
                out["lost"].append(r["id"])
            out["hits"].update(d or "none" for _, d in hits_of.get(r["id"], []))
            out["files"].extend(p for p in (r["crop_path"], r["overview_path"]) if p)
        out["purged"], out["outbox"] = len(doomed), len(doomed_seqs)
        if dry_run or not doomed:
            return out
        for i in range(0, len(doomed_seqs), 500):
            chunk = doomed_seqs[i:i + 500]
            conn.execute(f"DELETE FROM outbox WHERE seq IN ({','.join('?' * len(chunk))})", chunk)
        conn.execute(f"DELETE FROM reads WHERE id IN ({','.join('?' * len(doomed))})", doomed)  # hits cascade
        if out["lost"]:
            store_event(conn, kind="data_loss", source="retention", at=now, detail={
                "reason": "legal_max_age", "unsynced_reads_purged": len(out["lost"]), "read_ids": out["lost"]})
        return out

    def _unlink(self, rel_paths: list[str], tally: Counter) -> None:
        root = self.data_dir.resolve()
        for rel in rel_paths:
            path = (self.data_dir / rel).resolve()
            if root not in path.parents:
                tally["images_refused_outside_data_dir"] += 1
                continue
            try:
                path.unlink()
                tally["images_deleted"] += 1
            except FileNotFoundError:
                tally["images_missing"] += 1
            except OSError:
                tally["images_failed"] += 1

    def _purge_reads(self, now: datetime, dry_run: bool, report: dict, tally: Counter) -> None:
        cutoff = iso_utc(candidate_cutoff(now, self.policy))
        holds = self._job("holds", hold_facts)
        report["holds_active"] = sum(1 for h in holds if h.active(now))
        reasons, by_hold, hits = Counter(), Counter(), Counter()
        after, batch = ("", ""), min(100, self.config.purge_batch_size)
        lost_total = 0
        while not self.stop_event.is_set():
            res = self._job("reads", lambda conn: self._read_batch(conn, after, batch, cutoff, holds, now, dry_run))
            if res["n"] == 0:
                break
            after = res["last"]
            reasons.update(res["reasons"])
            by_hold.update(res["holds"])
            hits.update(res["hits"])
            tally["reads_examined"] += res["n"]
            tally["reads_purged"] += res["purged"]
            tally["clock_suspect_examined"] += res["clock_suspect"]
            tally["outbox_rows_purged"] += res["outbox"]
            lost_total += len(res["lost"])
            if not dry_run:
                self._unlink(res["files"], tally)
            else:
                tally["images_to_delete"] += len(res["files"])
            if self.between_jobs is not None and res["purged"]:
                self.between_jobs()
            batch = self._adapt(batch, self.config.purge_batch_size)
            self._pause()
        young = self._job("count", lambda conn: conn.execute(
            "SELECT count(*) FROM reads WHERE captured_at > ?", (cutoff,)).fetchone()[0])
        if young:
            reasons[KEEP_YOUNG] += young
        # Reads stamped more than a day ahead of this clock: either this clock or theirs is wrong. They
        # are kept (counted as young) until the clock passes them; the count makes it visible.
        report["clock_suspect_reads"] = self._job("count", lambda conn: conn.execute(
            "SELECT count(*) FROM reads WHERE clock_suspect = 1").fetchone()[0])
        report["future_dated_reads"] = self._job("count", lambda conn: conn.execute(
            "SELECT count(*) FROM reads WHERE captured_at > ?", (iso_utc(now + timedelta(days=1)),)).fetchone()[0])
        purged = sum(n for reason, n in reasons.items() if reason in ("synced_and_expired", "legal_max_age"))
        report["reads"] = {"purged": purged, "kept": sum(reasons.values()) - purged, "by_reason": dict(reasons)}
        report["held"] = reasons.get("held", 0)
        report["kept_by_hold"] = dict(by_hold)
        report["lost_unsynced"] = lost_total
        report["hits_purged_by_disposition"] = dict(hits)
        report["interrupted"] = self.stop_event.is_set()

    def _purge_leftovers(self, now: datetime, dry_run: bool, report: dict) -> None:
        """What else names a plate: alert files and expired manual entries (retention/leftovers.py)."""
        from firmware.retention.leftovers import purge_leftovers

        report.update(purge_leftovers(lambda fn: self._job("leftovers", fn), self.data_dir, self.config,
                                      self.unit_id, now, iso_utc(candidate_cutoff(now, self.policy)), dry_run))

    # -- audit, outbox leftovers, orphans ----------------------------------------------------------

    def _audit_batch(self, conn, now: datetime, dry_run: bool, limit: int = 2000) -> dict:
        old_before = iso_utc(now - self.policy.audit_retention)
        rows = conn.execute(
            "SELECT a.seq, a.at, o.acked_at IS NOT NULL AS acked FROM audit_log a"
            " LEFT JOIN outbox o ON o.kind = 'audit' AND o.record_id = a.id"
            " WHERE a.at < ? ORDER BY a.seq LIMIT ?", (old_before, limit),
        ).fetchall()
        upto, kept = None, Counter()
        for row in rows:
            decision = decide_audit(parse_iso_utc(row["at"]), bool(row["acked"]), now, self.policy)
            if not decision.purge:
                kept[decision.reason] += 1
                break  # the chain is purged as a prefix only
            upto = row["seq"]
        n = 0 if upto is None else (sum(1 for r in rows if r["seq"] <= upto))
        if upto is not None and not dry_run:
            purge_audit_prefix(conn, upto, now, self.unit_id)
        return {"purged": n, "kept": kept, "more": len(rows) == limit and upto is not None and not dry_run}

    def _purge_audit(self, now: datetime, dry_run: bool, report: dict) -> None:
        purged, kept = 0, Counter()
        while not self.stop_event.is_set():
            res = self._job("audit", lambda conn: self._audit_batch(conn, now, dry_run))
            purged += res["purged"]
            kept.update(res["kept"])
            if not res["more"]:
                break
        report["audit"] = {"purged": purged, "kept_past_retention": dict(kept)}

    def _purge_acked_outbox(self, now: datetime, dry_run: bool) -> int:
        """Acknowledged health and event messages: the events table keeps the record, the copy can go."""
        before = iso_utc(now - self.policy.local_retention)
        where = "kind IN ('event','health') AND acked_at IS NOT NULL AND acked_at < ?"
        if dry_run:
            return self._job("outbox", lambda c: c.execute(f"SELECT count(*) FROM outbox WHERE {where}", (before,))
                                .fetchone()[0])
        total = 0
        while not self.stop_event.is_set():
            n = self._job("outbox", lambda c: c.execute(
                f"DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE {where} LIMIT 2000)", (before,)
            ).rowcount)
            total += n
            if n < 2000:
                return total
        return total

    def _orphan_images(self, now: datetime, dry_run: bool) -> int:
        """Image files whose read is gone (a crash between commit and unlink, or a failed capture)."""
        images = self.data_dir / "images"
        if not images.is_dir():
            return 0
        newest = (now - timedelta(days=self.config.orphan_image_min_age_days)).date()
        found = 0
        for day_dir in sorted(images.glob("[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]")):
            if self.stop_event.is_set():
                break
            try:
                day = datetime.strptime("/".join(day_dir.parts[-3:]), "%Y/%m/%d").date()
            except ValueError:
                continue
            if day > newest:
                continue
            files = [f for f in day_dir.iterdir() if f.is_file()]
            ids = sorted({f.name.rsplit("-", 1)[0] for f in files})
            alive = set()
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                alive |= self._job("orphans", lambda c: {r[0] for r in c.execute(
                    f"SELECT id FROM reads WHERE id IN ({','.join('?' * len(chunk))})", chunk)})
            for f in files:
                if f.name.rsplit("-", 1)[0] not in alive:
                    found += 1
                    if not dry_run:
                        f.unlink(missing_ok=True)
            if not dry_run:
                for d in (day_dir, day_dir.parent, day_dir.parent.parent):
                    try:
                        d.rmdir()  # only when empty
                    except OSError:
                        break
        return found

    # -- space -------------------------------------------------------------------------------------

    def _reclaim(self, report: dict) -> None:
        db = self.data_dir / "alpr.db"
        before = db.stat().st_size if db.exists() else 0
        freed = 0
        step = min(64, self.config.vacuum_pages_per_step)
        while not self.stop_event.is_set():
            free_before, free_after = self._job("vacuum", lambda c: _vacuum_step(c, step))
            freed += free_before - free_after
            if free_after == 0 or free_after >= free_before:
                break
            step = self._adapt(step, self.config.vacuum_pages_per_step)
            self._pause()
        started = time.perf_counter()
        checkpoint = self.checkpoint() if self.checkpoint else None
        report["checkpoint_s"] = round(time.perf_counter() - started, 4)
        wal = db.with_name(db.name + "-wal")
        report["space"] = {
            "pages_freed": freed, "db_bytes_before": before, "db_bytes_after": db.stat().st_size if db.exists() else 0,
            "wal_checkpoint": None if checkpoint is None else {
                "busy": checkpoint[0], "wal_pages": checkpoint[1], "checkpointed": checkpoint[2]},
            "wal_bytes_after": wal.stat().st_size if wal.exists() else 0,
        }

    # -- the run -----------------------------------------------------------------------------------

    def run(self, dry_run: bool = False) -> dict:
        started_wall = time.perf_counter()
        now = self.clock.utc()
        report: dict = {"event": "purge", "dry_run": dry_run, "unit_id": self.unit_id, "now": iso_utc(now),
                        "local_retention_days": self.config.local_retention_days, "legal_max_days": 90}
        tally: Counter = Counter()
        verdict = self._clock_verdict()
        report["clock"] = verdict.as_dict()
        if not verdict.trusted:
            return self._refuse(now, dry_run, report, verdict, started_wall)
        self._purge_reads(now, dry_run, report, tally)
        self._purge_leftovers(now, dry_run, report)
        self._purge_audit(now, dry_run, report)
        report["outbox_acked_events_purged"] = self._purge_acked_outbox(now, dry_run)
        report["orphan_images"] = self._orphan_images(now, dry_run)
        report.update({k: tally.get(k, 0) for k in (
            "reads_examined", "outbox_rows_purged", "images_deleted", "images_missing", "images_failed")})
        report["purged_by_kind"] = {
            "reads": report["reads"]["purged"], "hits": sum(report["hits_purged_by_disposition"].values()),
            "outbox": report["outbox_rows_purged"] + report["outbox_acked_events_purged"],
            "images": tally.get("images_to_delete", 0) if dry_run else report["images_deleted"],
            "orphan_images": report["orphan_images"], "audit": report["audit"]["purged"]}
        if dry_run:
            report["images_to_delete"] = tally.get("images_to_delete", 0)
        elif not report["interrupted"]:
            self._reclaim(report)
        report["seconds"] = round(time.perf_counter() - started_wall, 3)
        report["jobs"] = sum(st["jobs"] for st in self.job_stats.values())
        report["longest_job_s"] = round(max((st["max_s"] for st in self.job_stats.values()), default=0.0), 4)
        report["job_s_by_phase"] = {k: {"jobs": v["jobs"], "max_s": round(v["max_s"], 4),
                                        "total_s": round(v["total_s"], 3)} for k, v in self.job_stats.items()}
        if not dry_run:
            self.run_job(lambda conn: self._record(conn, now, report))
        log.info("purge finished", extra={
            "event": "retention.purge", "dry_run": dry_run, "purged": report["reads"]["purged"],
            "kept": report["reads"]["kept"], "held": report["held"], "lost_unsynced": report["lost_unsynced"],
            "seconds": report["seconds"], "longest_job_s": report["longest_job_s"]})
        if report["lost_unsynced"]:
            log.warning("unsynced reads purged at the legal maximum age", extra={
                "event": "retention.data_loss", "count": report["lost_unsynced"]})
        return report

    def _clock_verdict(self) -> ClockVerdict:
        if self.clock_check is not None:
            return self.clock_check()
        from firmware.retention.clock_watch import standalone_verdict

        return self._job("clock", lambda conn: standalone_verdict(conn, self.clock, self.config.clock_tolerance_s))

    def _refuse(self, now: datetime, dry_run: bool, report: dict, verdict: ClockVerdict, started: float) -> dict:
        """The clock cannot be trusted: delete nothing, say why, and record it (not as a purge run:
        its time would be the suspect clock's)."""
        from firmware.retention.clock_watch import record_refusal, refusal_report

        refusal_report(report, round(time.perf_counter() - started, 3))
        if not dry_run:
            self.run_job(lambda conn: record_refusal(conn, self.unit_id, now, verdict))
        log.warning("purge refused: the clock is not trusted", extra={
            "event": "retention.clock_suspect", "why": list(verdict.reasons), "dry_run": dry_run})
        return report

    def _record(self, conn: sqlite3.Connection, now: datetime, report: dict) -> None:
        run_id = str(uuid.uuid4())
        report["run_id"] = run_id
        conn.execute("DELETE FROM purge_runs WHERE started_at < ?", (iso_utc(now - self.policy.audit_retention),))
        conn.execute("INSERT INTO purge_runs (id, started_at, finished_at, dry_run, report) VALUES (?, ?, ?, 0, ?)",
                     (run_id, iso_utc(now), iso_utc(self.clock.utc()), json.dumps(report, default=str)))
        summary = {"run_id": run_id, "reads": report["reads"], "held": report["held"],
                   "lost_unsynced": report["lost_unsynced"], "audit_purged": report["audit"]["purged"],
                   "images_deleted": report["images_deleted"], "seconds": report["seconds"]}
        append_audit(conn, unit_id=self.unit_id, event="purge", at=now, user="system", purpose="retention",
                     detail=summary)
        if report["lost_unsynced"]:
            append_audit(conn, unit_id=self.unit_id, event="data_loss", at=now, user="system", purpose="retention",
                         detail={"run_id": run_id, "unsynced_reads_purged": report["lost_unsynced"],
                                 "reason": "legal_max_age"})


def _vacuum_step(conn: sqlite3.Connection, pages: int) -> tuple[int, int]:
    """Return up to `pages` free pages to the filesystem; (free pages before, after).

    Python's sqlite3 steps a statement that returns no columns only once, and each step of
    incremental_vacuum frees one page: so one execute per page (about 15 us each).
    """
    before = conn.execute("PRAGMA freelist_count").fetchone()[0]
    for _ in range(min(pages, before)):
        conn.execute("PRAGMA incremental_vacuum(1)")
    return before, conn.execute("PRAGMA freelist_count").fetchone()[0]
