"""The daemon's retention worker: a scheduled purge that goes through the single writer.

Each purge step is a small writer job, so capture's own jobs queue behind at most one of them;
the WAL checkpoint (which must run outside a transaction) uses a short-lived connection of its
own. A purge can also be asked for on demand (`purge_now`), never two at once.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from firmware.clock import Clock
from firmware.retention.clock_watch import ClockWatch
from firmware.retention.config import RetentionConfig
from firmware.retention.purge import Purger
from firmware.storage.db import DB_NAME, Writer, connect

log = logging.getLogger(__name__)
FIRST_PURGE_DELAY_S = 60.0


def checkpoint_truncate(db_path: Path) -> tuple[int, int, int]:
    """PRAGMA wal_checkpoint(TRUNCATE) from its own connection: (busy, wal pages, pages checkpointed)."""
    conn = connect(db_path)
    try:
        return tuple(conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone())
    finally:
        conn.close()


class _SideCheckpointer:
    """PASSIVE checkpoints from a connection of our own, often enough that the WAL stays under the
    writer's auto-checkpoint threshold (1000 pages) and rarely enough that fsyncs do not dominate."""

    TARGET_FRAMES = 500

    def __init__(self, db_path: Path):
        self.conn = connect(db_path)
        self.every = 1
        self.calls = 0
        self.runs = 0

    def __call__(self) -> None:
        self.calls += 1
        if self.calls % self.every:
            return
        busy, frames, _ = self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.runs += 1
        if frames < self.TARGET_FRAMES // 2:
            self.every = min(64, self.every * 2)
        elif frames > self.TARGET_FRAMES:
            self.every = max(1, self.every // 2)

    def close(self) -> None:
        self.conn.close()


class RetentionService:
    def __init__(self, config: RetentionConfig, data_dir: Path, writer: Writer, unit_id: str, clock: Clock, *,
                 gps_offset=None, run=None, on_event=None):
        self.config = config
        self.data_dir = Path(data_dir)
        self.writer = writer
        self.unit_id = unit_id
        self.clock = clock
        self.stop_event = threading.Event()
        self.last_report: dict | None = None
        self.runs = 0
        self.failures = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # every deletion asks the watch first; it also flags reads a stepped clock stamped (issue 18)
        self._watch_args = {"gps_offset": gps_offset, "run": run, "on_event": on_event}
        self.watch: ClockWatch | None = None

    def clock_verdict(self):
        if self.watch is None:
            self.watch = ClockWatch(self.clock, self.writer.call, self.config.clock_tolerance_s, **self._watch_args)
        return self.watch.check()

    def start(self) -> None:
        self.stop_event.clear()
        self.clock_verdict()
        self._thread = threading.Thread(target=self._loop, name="retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops between two writer jobs: an interrupted purge is resumed by the next one."""
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.watch is not None:
            try:   # capture has flushed its last reads by now (it stops first): flag them too
                self.watch.check()
            except Exception:  # noqa: BLE001 - storage failing at stop; the next run of this boot flags them
                log.exception("last clock check failed", extra={"event": "retention.clock_check_failed"})

    def purge_now(self, dry_run: bool = False) -> dict:
        with self._lock:
            # Checkpointing (PASSIVE) between batches from a connection of our own keeps the WAL short,
            # so the writer's own auto-checkpoint, which would run inside a capture commit, stays idle.
            side = _SideCheckpointer(self.data_dir / DB_NAME)
            try:
                purger = Purger(self.config, self.data_dir, self.unit_id, self.clock, run_job=self.writer.call,
                                checkpoint=lambda: checkpoint_truncate(self.data_dir / DB_NAME),
                                stop_event=self.stop_event, between_jobs=side, clock_check=self.clock_verdict)
                report = purger.run(dry_run=dry_run)
                report["side_checkpoints"] = side.runs
            finally:
                side.close()
            if not dry_run:
                self.last_report = report
                self.runs += 1
            return report

    def _loop(self) -> None:
        due = time.monotonic() + min(FIRST_PURGE_DELAY_S, self.config.purge_interval_s)  # real time paces it
        tick = min(self.config.clock_check_s, FIRST_PURGE_DELAY_S, self.config.purge_interval_s)
        while not self.stop_event.wait(tick):
            try:
                if time.monotonic() >= due:
                    due = time.monotonic() + self.config.purge_interval_s
                    self.purge_now()
                else:
                    self.clock_verdict()   # between purges: flag what a stepped clock stamps, as it happens
            except Exception:  # keep purging on the next tick; the daemon's health shows the count
                self.failures += 1
                log.exception("scheduled purge failed", extra={"event": "retention.purge_failed",
                                                               "failures": self.failures})
