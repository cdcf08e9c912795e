"""SyncService: the MQTT uplink (outbox drain, health, status) and the signed downlink, as one service.

The daemon starts it after retention and stops it before the cameras stop producing; `stop()`
publishes `offline`, disconnects cleanly and leaves every unacknowledged record queued. With an
empty `sync.host` nothing connects and records simply wait in the outbox (status still works).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Callable

from firmware.clock import Clock, iso_utc
from firmware.storage import outbox
from firmware.storage.db import DB_NAME, Writer, connect
from firmware.sync.config import SyncConfig
from firmware.sync.health import build_health
from firmware.sync.inbox import DownlinkInbox, record_event
from firmware.sync.link import MqttLink
from firmware.sync.messages import uplink_topic
from firmware.sync.sender import OutboxSender

log = logging.getLogger(__name__)
STATUS_FILE = "sync-status.json"
STATUS_EVERY_S = 5.0  # the status file lives on the SD card: not too often


class SyncService:
    def __init__(self, config: SyncConfig, data_dir: Path, writer: Writer, unit_id: str, clock: Clock,
                 health: Callable[[], dict] | None = None,
                 on_event: Callable[[str, str, dict], None] | None = None,
                 base_config: Callable[[], dict] | None = None):
        self.config = config
        self.data_dir = Path(data_dir)
        self.writer = writer
        self.unit_id = unit_id
        self.clock = clock
        self.health = health
        self.on_event = on_event
        self.inbox = DownlinkInbox(config, writer, unit_id, clock, on_event=on_event, base_config=base_config)
        self.link: MqttLink | None = None
        self.sender: OutboxSender | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.health_sent = 0
        self.health_skipped = 0

    @property
    def enabled(self) -> bool:
        return bool(self.config.host)

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        if not self.enabled:
            log.info("sync disabled (no sync.host): records stay in the outbox", extra={"event": "sync.disabled"})
            return
        self.sender = OutboxSender(self.config, self.data_dir, self.writer, None, self.unit_id, self.clock,
                                   record_event=record_event)
        self.link = MqttLink(self.config, self.unit_id, self.clock, on_message=self.inbox.submit,
                             on_puback=self.sender.on_puback, on_oversize=self.inbox.oversize)
        self.inbox.ask_broker = self.link.ask
        self.sender.link = self.link
        self.link.start()
        self._write_status_file()   # `sync status` knows the daemon runs from the first moment
        for name, target in (("sync-sender", self.sender.run), ("sync-downlink", self.inbox.run),
                             ("sync-health", self._housekeeping)):
            thread = threading.Thread(target=target, args=(self._stop,), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("sync started", extra={"event": "sync.start", "host": self.config.host, "port": self.config.port})

    def notify(self) -> None:
        """Call after queuing something urgent (a hit): the sender looks now instead of at its next poll."""
        if self.sender is not None:
            self.sender.notify()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads = []
        if self.link is not None:
            self.link.stop()
        self._write_status_file()
        log.info("sync stopped", extra={"event": "sync.stop"})

    def status(self) -> dict:
        conn = connect(self.data_dir / DB_NAME, readonly=True)
        try:
            summary = outbox.summary(conn)
        finally:
            conn.close()
        sender = self.sender.status() if self.sender else {"in_flight": 0, "last_ack_at": None}
        link = self.link
        return {
            "enabled": self.enabled, "connected": bool(link and link.connected.is_set()),
            "broker": f"{self.config.host}:{self.config.port}" if self.enabled else None,
            "queued": summary["queued"], "queued_total": summary["queued_total"],
            "queued_payload_bytes": summary["queued_payload_bytes"], "oldest_queued_at": summary["oldest_queued_at"],
            "in_flight": sender["in_flight"], "last_ack_at": sender["last_ack_at"] or summary["last_ack_at"],
            "sender": sender, "downlink": self.inbox.status(),
            "connects": link.connects if link else 0, "connect_failures": link.connect_failures if link else 0,
            "last_error": link.last_error if link else None, "health_sent": self.health_sent,
            "at": iso_utc(self.clock.utc()),
        }

    def _write_status_file(self) -> None:
        try:
            data = self.status()
            data["pid"] = os.getpid()
            tmp = self.data_dir / (STATUS_FILE + ".tmp")
            tmp.write_text(json.dumps(data, default=str))
            os.replace(tmp, self.data_dir / STATUS_FILE)
        except Exception as exc:  # noqa: BLE001 - status is best effort
            log.debug("status file not written", extra={"event": "sync.status_file_error", "error": str(exc)})

    def _housekeeping(self, stop_event: threading.Event) -> None:
        next_health = 0.0
        next_status = 0.0
        written_connected: bool | None = None
        while not stop_event.wait(0.5):
            now = self.clock.monotonic_ns() / 1e9
            connected = bool(self.link and self.link.connected.is_set())
            # every STATUS_EVERY_S, and at once when the link goes up or down: `sync status` must not lag it
            if now >= next_status or connected != written_connected:
                self._write_status_file()
                next_status, written_connected = now + STATUS_EVERY_S, connected
            if now >= next_health and self._publish_health():
                next_health = now + self.config.health_interval_s

    def _publish_health(self) -> bool:
        if self.link is None or not self.link.connected.is_set():
            self.health_skipped += 1
            return False
        try:
            extra = self.health() if self.health else None
        except Exception as exc:  # noqa: BLE001 - a failing probe must not stop the report
            extra = {"health_error": str(exc)}
        status = self.status()
        report = build_health(self.unit_id, self.clock.utc(), self.data_dir,
                              {"queued": status["queued"], "total": status["queued_total"],
                               "in_flight": status["in_flight"], "oldest_queued_at": status["oldest_queued_at"]},
                              {"connected": True, "last_ack_at": status["last_ack_at"]}, extra)
        try:
            self.link.publish(uplink_topic(self.config.agency, self.unit_id, "health"),
                              json.dumps(report, default=str, separators=(",", ":")).encode(), qos=1)
            self.health_sent += 1
            return True
        except (ValueError, RuntimeError) as exc:
            log.warning("health not published", extra={"event": "sync.health_error", "error": str(exc)})
            return False
