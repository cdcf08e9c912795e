"""The composition root: builds every service from one validated config, starts them in order and
stops them in reverse, so shutdown flushes capture before storage and sync let go.

Order: writer -> gnss -> hotlists -> retention -> sync -> cameras + recognition.
Tests and the HIL rig replace hardware through `Seams` (frame sources, alert sinks, clock); the
rest of the daemon is the real thing.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from firmware import __version__, lifecycle, sdnotify
from firmware.alerts.alerter import AlertSink, build_alerter
from firmware.capture import CameraPipeline, ReadRecorder, Recognizer
from firmware.clock import Clock, SystemClock
from firmware.config import UnitConfig
from firmware.consensus import ConsensusTracker
from firmware.frames.sources import FrameSource, build_source
from firmware.frames.worker import CameraWorker
from firmware.records import Read
from firmware.storage.db import Writer
from firmware.storage.held_events import HeldEvents

log = logging.getLogger(__name__)


@dataclass
class Seams:
    """Where tests, the demo and HIL rigs plug in; anything left None is built from the config."""

    clock: Clock | None = None
    sources: dict[str, FrameSource] | None = None
    recognizer_factory: Callable[[], Recognizer] | None = None
    alert_sinks: list[AlertSink] = field(default_factory=list)
    on_read: Callable[[Read], None] | None = None
    gps_wait_s: float = 0.0   # wait this long for a first fix before cameras start (demo, HIL)


class Unit:
    def __init__(self, config: UnitConfig, seams: Seams | None = None):
        self.config = config
        self.seams = seams or Seams()
        self.clock: Clock = self.seams.clock or SystemClock()
        self.data_dir = Path(config.unit.data_dir)
        self.started_mono = self.clock.monotonic_ns()
        self._stack: list[tuple[str, Callable[[], None]]] = []
        self.cameras: list[CameraWorker] = []
        self.pipelines: list[CameraPipeline] = []
        self.events_recorded = 0
        self.config_seq: int | None = None  # the agency's config change in force (config_changes.py)
        self.unsaved_at_stop = 0            # reads still not stored when capture stopped: `run` exits 3

    # -- events -----------------------------------------------------------------------------
    def record_event(self, kind: str, source: str, detail: dict) -> None:
        """Malfunctions and the like: logged now, stored through the writer without blocking the caller."""
        level = logging.WARNING if kind in ("malfunction", "security", "data_loss") else logging.INFO
        log.log(level, "unit event", extra={"event": f"unit.{kind}", "source": source, "detail": detail})
        self.events_recorded += 1
        self.held_events.add(kind, source, detail, self.clock.utc())   # held in memory until stored

    # -- lifecycle --------------------------------------------------------------------------
    def _started(self, name: str, stop: Callable[[], None]) -> None:
        self._stack.append((name, stop))
        log.info("service started", extra={"event": "service.started", "service": name})

    def start(self) -> None:
        self.conn, storage_events = lifecycle.open_storage(self.data_dir, self.clock.utc())  # corrupt or full disk
        from firmware.unit_data import bind_unit

        bind_unit(self.conn, self.config.unit.id)   # the data dir belongs to one unit; another config is refused
        self.writer = Writer(self.conn).start()
        self.held_events = HeldEvents(self.writer)
        self._started("writer", self.writer.stop)
        for kind, detail in storage_events:
            self.record_event(kind, "storage", detail)
        self.run_info = lifecycle.open_run(self.writer.call, self.clock, self.record_event)  # finds an unclean stop
        self._started("run marker", lambda: lifecycle.close_run(self))

        from firmware.config_changes import apply_at_start

        file_config = self.config  # a signed config change from the agency lies over the file from here on
        started_on = apply_at_start(file_config, self.writer.call, file_config.unit.id, self.clock.utc())
        cfg = self.config = started_on.config
        self.config_seq = started_on.seq

        from firmware.gnss.service import GnssService

        self.gnss = GnssService(cfg.gps, self.clock, on_event=self.record_event)
        self.gnss.start()
        self._started("gnss", self.gnss.stop)
        if self.seams.gps_wait_s > 0:
            self.gnss.wait_for_fix(self.seams.gps_wait_s)

        from firmware.hotlist.service import HotlistService
        from firmware.hotlist.staged import purge_abandoned

        purge_abandoned(self.writer.call)   # a list load cut off by power loss never half-applies
        self.hotlists = HotlistService(cfg.hotlist, self.data_dir, self.clock, cfg.unit.id, on_event=self.record_event)
        self.hotlists.start()
        self._started("hotlists", self.hotlists.stop)

        from firmware.retention.service import RetentionService

        self.retention = RetentionService(cfg.retention, self.data_dir, self.writer, cfg.unit.id, self.clock,
                                          gps_offset=self.gnss.clock_offset_s, run=self.run_info,
                                          on_event=self.record_event)
        self.retention.start()
        self._started("retention", self.retention.stop)

        from firmware.sync.service import SyncService

        self.sync = SyncService(cfg.sync, self.data_dir, self.writer, cfg.unit.id, self.clock,
                                health=self.health, on_event=self.record_event,
                                base_config=lambda: file_config.model_dump(mode="json"))
        self.sync.start()
        self._started("sync", self.sync.stop)

        self.alerter = build_alerter(cfg.alerts, self.data_dir, self.seams.alert_sinks, on_event=self.record_event)
        self._started("alerter", self.alerter.close)

        from firmware.screen.service import start_screen

        self.screen = start_screen(cfg.screen, self)   # None without [screen], or reported when it cannot listen
        if self.screen is not None:
            self.alerter.sinks.append(self.screen.sink)
            self._started("screen", self.screen.stop)

        self.recorder = ReadRecorder(
            unit_id=cfg.unit.id, data_dir=self.data_dir, writer=self.writer, clock=self.clock, gnss=self.gnss,
            hotlists=self.hotlists, alerter=self.alerter, storage_config=cfg.storage,
            min_free_mb=cfg.unit.min_free_mb, on_event=self.record_event, on_read=_both(self.seams.on_read, self.screen and self.screen.on_read),
            on_committed=self.sync.notify,
        )
        factory = self.seams.recognizer_factory or self._recognizer_from_config
        for camera in cfg.cameras:
            source = (self.seams.sources or {}).get(camera.id) or build_source(camera)
            worker = CameraWorker(source, self.clock, fps=camera.fps, loop=camera.loop, queue_size=camera.queue_size,
                                  stall_timeout_s=camera.stall_timeout_s, backoff_max_s=camera.reopen_backoff_max_s,
                                  on_event=self.record_event, frozen_after_s=camera.frozen_after_s)
            tracker = ConsensusTracker(**cfg.consensus.model_dump())
            pipeline = CameraPipeline(worker, factory(), tracker, self.recorder, self.clock)
            self.cameras.append(worker)
            self.pipelines.append(pipeline)
        for worker, pipeline in zip(self.cameras, self.pipelines):
            pipeline.start()
            worker.start()
        self._started("cameras", self._stop_cameras)
        self.ready = False   # READY=1 once a camera delivered a frame (run() checks), not before

    def _recognizer_from_config(self) -> Recognizer:
        from firmware.recognition.pipeline import Recognizer as TfliteRecognizer

        recognizer = TfliteRecognizer.from_config(self.config.recognition)
        recognizer.warm_up()   # the first real frame should not pay for delegate set-up
        return recognizer

    def _stop_cameras(self) -> None:
        for worker in self.cameras:
            worker.stop()
        for pipeline in self.pipelines:
            pipeline.stop()
        if getattr(self, "recorder", None) is not None:
            self.recorder.retry_held()
            waiting, images = self.recorder.held_count(), len(self.recorder.held_images)
            self.unsaved_at_stop = waiting + images
            if waiting or images:
                log.error("reads could not be stored before shutdown",
                          extra={"event": "read.unsaved_at_stop", "count": waiting, "images": images})

    def stop(self) -> None:
        sdnotify.notify("STOPPING=1")
        while self._stack:
            name, stop = self._stack.pop()
            try:
                stop()
                log.info("service stopped", extra={"event": "service.stopped", "service": name})
            except Exception:
                log.exception("service stop failed", extra={"event": "service.stop_failed", "service": name})
        if getattr(self, "held_events", None) is not None and self.held_events.held():
            log.error("events could not be stored before shutdown (each is in this log)",
                      extra={"event": "unit.events_unsaved_at_stop", "count": self.held_events.held()})
        if getattr(self, "conn", None) is not None:
            try:
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:   # a full or failing disk: the WAL stays, SQLite replays it at open
                log.error("final checkpoint failed", extra={"event": "db.checkpoint_failed", "error": str(exc)})
            self.conn.close()
            self.conn = None

    def sources_finished(self) -> bool:
        """Every camera is a finite source that ended, and its pipeline flushed."""
        return bool(self.pipelines) and all(p.done.is_set() for p in self.pipelines)

    def run(self, stop_event: threading.Event, *, max_seconds: float | None = None,
            until_sources_end: bool = False, tick_s: float = 0.5) -> None:
        """Supervise until stopped: stall checks, systemd watchdog and status."""
        watchdog = sdnotify.watchdog_interval_s()
        last_ping = last_beat = 0.0
        deadline = time.monotonic() + max_seconds if max_seconds else None
        last_unack = 0.0
        last_output_check = time.monotonic()
        while not stop_event.wait(tick_s):
            for worker in self.cameras:
                worker.check_stall()
            if not self.ready and lifecycle.capturing(self):
                self.ready = True
                lifecycle.notify_ready(self)
            if time.monotonic() - last_beat >= self.config.retention.clock_check_s:
                lifecycle.heartbeat(self)
                self.held_events.flush()
                last_beat = time.monotonic()
            if time.monotonic() - last_unack >= 5.0:
                self._mark_unacknowledged()
                last_unack = time.monotonic()
            if time.monotonic() - last_output_check >= 60.0:
                self.alerter.check()   # an output that died since start is a malfunction now, not at the next hit
                last_output_check = time.monotonic()
            if watchdog and time.monotonic() - last_ping >= watchdog:
                stats = self.recorder.stats
                sdnotify.notify(f"WATCHDOG=1\nSTATUS=frames={stats.frames} reads={stats.reads} hits={stats.hits}")
                last_ping = time.monotonic()
            if until_sources_end and self.sources_finished():
                return
            if deadline and time.monotonic() >= deadline:
                return

    def _mark_unacknowledged(self) -> None:
        """Hits nobody answered in time are recorded as unacknowledged (never auto-rejected)."""
        from datetime import timedelta

        from firmware.dispositions import mark_unacknowledged

        after = timedelta(seconds=self.config.alerts.unacknowledged_after_s)
        self.writer.submit(lambda conn: mark_unacknowledged(conn, now=self.clock.utc(), after=after,
                                                            unit_id=self.config.unit.id))

    # -- health -----------------------------------------------------------------------------
    def health(self) -> dict:
        uptime_s = (self.clock.monotonic_ns() - self.started_mono) / 1e9
        try:
            disk = shutil.disk_usage(self.data_dir)
            disk_free_mb = round(disk.free / 2**20)
        except OSError:
            disk_free_mb = None
        cameras = []
        for worker, pipeline in zip(self.cameras, self.pipelines):
            status = worker.status()
            status["fps"] = round(pipeline.frames / uptime_s, 2) if uptime_s > 0 else 0.0
            status["recognition_errors"] = pipeline.errors
            cameras.append(status)
        return {
            "version": __version__, "unit_id": self.config.unit.id, "uptime_s": round(uptime_s, 1),
            "cameras": cameras, "gps": self.gnss.status(), "hotlists": self.hotlists.status(),
            "disk_free_mb": disk_free_mb, "cpu_temp_c": cpu_temperature(), "capture": self.recorder.stats.as_dict(),
            "alerts": self.alerter.status(),
            "writer_longest_job_ms": round(self.writer.longest_job_s * 1000, 1),
            "config": {"change_in_force": self.config_seq, "change_awaiting_restart": self._pending_config()},
        }

    def _pending_config(self) -> int | None:
        from firmware.config_changes import pending_change

        try:
            return pending_change(lambda job: self.writer.call(job, timeout=2))
        except Exception:  # noqa: BLE001 - health must answer even when the writer is busy or stopped
            return None


def _both(first: Callable[[Read], None] | None, second: Callable[[Read], None] | None):
    if first is None or second is None:
        return first or second
    return lambda read: (first(read), second(read))


def cpu_temperature() -> float | None:
    try:
        return int(Path("/sys/class/thermal/thermal_zone0/temp").read_text().strip()) / 1000
    except (OSError, ValueError):
        return None
