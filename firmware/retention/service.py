"""The daemon's retention worker: a scheduled purge that goes through the single writer.

Each purge step is a small writer job, so capture's own jobs queue behind at most one of them;
the WAL checkpoint (which must run outside a transaction) uses a short-lived connection of its
own. A purge can also be asked for on demand (`purge_now`), never two at once.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from firmware.clock import Clock
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


class RetentionService:
    def __init__(self, config: RetentionConfig, data_dir: Path, writer: Writer, unit_id: str, clock: Clock):
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

    def start(self) -> None:
        self.stop_event.clear()
        self._thread = threading.Thread(target=self._loop, name="retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops between two writer jobs: an interrupted purge is resumed by the next one."""
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def purge_now(self, dry_run: bool = False) -> dict:
        with self._lock:
            purger = Purger(self.config, self.data_dir, self.unit_id, self.clock, run_job=self.writer.call,
                            checkpoint=lambda: checkpoint_truncate(self.data_dir / DB_NAME),
                            stop_event=self.stop_event)
            report = purger.run(dry_run=dry_run)
            if not dry_run:
                self.last_report = report
                self.runs += 1
            return report

    def _loop(self) -> None:
        wait = min(FIRST_PURGE_DELAY_S, self.config.purge_interval_s)
        while not self.stop_event.wait(wait):
            wait = self.config.purge_interval_s
            try:
                self.purge_now()
            except Exception:  # keep purging on the next tick; the daemon's health shows the count
                self.failures += 1
                log.exception("scheduled purge failed", extra={"event": "retention.purge_failed",
                                                               "failures": self.failures})
