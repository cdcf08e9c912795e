"""Unit events held in memory until the database takes them: a storage malfunction must not be lost
to the very fault it reports. Events are written in order, a batch at a time, through the writer;
a batch that fails stays held and is tried again on the next event or heartbeat. Bounded: past
`max_held` the oldest is dropped and counted (the count is in health and in a data_loss event).
"""

from __future__ import annotations

import collections
import logging
import threading
from datetime import datetime

from firmware.storage.reads import record_event

log = logging.getLogger(__name__)


class HeldEvents:
    def __init__(self, writer, max_held: int = 10_000):
        self.writer = writer
        self._held: collections.deque = collections.deque()
        self._max = max_held
        self._lock = threading.Lock()
        self._in_flight = 0          # events of the batch the writer has now
        self.dropped = 0
        self._dropped_reported = 0
        self.failures = 0

    def add(self, kind: str, source: str, detail: dict, at: datetime) -> None:
        with self._lock:
            if len(self._held) >= self._max:
                self._held.popleft()
                self.dropped += 1
                self._in_flight = max(0, self._in_flight - 1)
            self._held.append((kind, source, detail, at))
        self.flush()

    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def flush(self) -> None:
        with self._lock:
            if self._in_flight or not self._held:
                return
            batch = list(self._held)
            if self.dropped > self._dropped_reported:
                lost = self.dropped - self._dropped_reported
                batch.append(("data_loss", "events", {"reason": "events held past the bound while storage failed",
                                                      "dropped": lost}, batch[-1][3]))
            self._in_flight = len(self._held)
            reported = self.dropped

        def job(conn):
            for kind, source, detail, at in batch:
                record_event(conn, kind, source, detail, at)

        try:
            future = self.writer.submit(job)
        except Exception:  # noqa: BLE001 - a stopped writer: keep them held
            with self._lock:
                self._in_flight = 0
            return
        future.add_done_callback(lambda f: self._done(f, reported))

    def _done(self, future, reported: int) -> None:
        with self._lock:
            n, self._in_flight = self._in_flight, 0
            if future.exception() is None:
                for _ in range(min(n, len(self._held))):
                    self._held.popleft()
                self._dropped_reported = reported
                return
            self.failures += 1
        log.warning("events held until storage takes them", extra={
            "event": "unit.events_held", "held": self.held(), "error": str(future.exception())})
