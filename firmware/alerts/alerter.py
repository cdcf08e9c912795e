"""Alerts: the officer hears and sees a hit, and must verify it before acting.

An `Alerter` fans one alert out to sinks (log, recording for tests/HIL, GPIO buzzer/LED, sound, the
screen). A failing sink is logged, reported as a malfunction and skipped: one broken buzzer must never
hide the alert elsewhere, and never fail silently either. The hardware outputs live in outputs.py.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Protocol

from firmware.alerts.files import append_alert
from firmware.clock import iso_utc
from firmware.alerts.outputs import GpioSink, MissingOutput, SoundSink, alert_tone  # noqa: F401 (re-exported)
from firmware.records import Hit, Read

log = logging.getLogger(__name__)
VERIFY_NOTICE = "Hit is not proof: visually verify plate and state and confirm status before acting."


@dataclass(frozen=True)
class Alert:
    read_id: str
    camera_id: str
    plate: str
    state: str | None
    captured_at: str
    hits: tuple[Hit, ...]
    audible: bool
    historical: bool = False

    def as_dict(self) -> dict:
        return {"read_id": self.read_id, "camera_id": self.camera_id, "plate": self.plate, "state": self.state,
                "captured_at": self.captured_at, "audible": self.audible, "historical": self.historical,
                "hits": [h.as_dict() for h in self.hits], "notice": VERIFY_NOTICE}


def alert_for(read: Read, hits: list[Hit], historical: bool = False) -> Alert | None:
    """Covert (silent) entries are recorded but never announced in the car."""
    shown = tuple(h for h in hits if h.alert != "silent")
    if not shown:
        return None
    return Alert(read.id, read.camera_id, read.plate, read.state, iso_utc(read.captured_at), shown,
                 audible=any(h.alert == "audible" for h in shown), historical=historical)


class AlertSink(Protocol):
    name: str

    def alert(self, alert: Alert) -> None: ...

    def check(self) -> str | None: ...   # optional: what is wrong with the output now, or None

    def close(self) -> None: ...


class LogSink:
    """A hit in the application log, without the plate: the journal outlives the purge and leaves the unit
    in support bundles. The plate is on the screen and in the audit log; the read_id leads to it."""

    name = "log"

    def alert(self, alert: Alert) -> None:
        best = alert.hits[0]
        log.warning("HOTLIST HIT (%s) list=%s match=%s - %s", best.category or "-", best.list_name,
                    best.match, VERIFY_NOTICE, extra={"event": "alert.hit", "read_id": alert.read_id,
                                                      "camera_id": alert.camera_id})

    def close(self) -> None:
        pass


class RecordingSink:
    """Keeps every alert (tests) and optionally appends them as JSON lines to a file (HIL rigs watch it)."""

    name = "recording"

    def __init__(self, path: Path | None = None):
        self.alerts: list[Alert] = []
        self.path = path
        self._lock = threading.Lock()

    def alert(self, alert: Alert) -> None:
        with self._lock:
            self.alerts.append(alert)
            if self.path is not None:  # rotated, and purged with the reads (alerts/files.py)
                append_alert(self.path, json.dumps(alert.as_dict()), datetime.now(timezone.utc))

    def close(self) -> None:
        pass


class Alerter:
    """Fans an alert out to every output; one that fails is counted, reported once as a malfunction (and
    once as back in service when it works again), and never hides the alert from the others."""

    def __init__(self, sinks: list[AlertSink], on_event: Callable[[str, str, dict], None] | None = None):
        self.sinks = sinks
        self.on_event = on_event
        self.sent = 0
        self.failures = 0
        self._failing: dict[str, str] = {}
        self._failures_by_sink: dict[str, int] = {}
        self._lock = threading.Lock()

    def alert(self, alert: Alert) -> None:
        self.sent += 1
        for sink in self.sinks:
            try:
                sink.alert(alert)
            except Exception as exc:
                self.failures += 1
                log.exception("alert sink failed", extra={"event": "alert.sink_failed", "sink": sink.name})
                self.sink_failed(sink.name, str(exc) or type(exc).__name__)
            else:
                self._recovered(sink.name)

    def sink_failed(self, name: str, problem: str) -> None:
        """An output failed (now, or in the background as a sound playback does)."""
        with self._lock:
            self._failures_by_sink[name] = self._failures_by_sink.get(name, 0) + 1
            first = name not in self._failing
            self._failing[name] = problem
        if first and self.on_event:
            self.on_event("malfunction", f"alert:{name}", {"reason": "alert_output_failed", "problem": problem})

    def _recovered(self, name: str) -> None:
        with self._lock:
            was = self._failing.pop(name, None)
        if was is not None and self.on_event:
            self.on_event("back_in_service", f"alert:{name}", {"reason": "alert_output_ok"})

    def check(self) -> list[dict]:
        """Ask every output whether it works now; a problem becomes a malfunction (once)."""
        for sink in self.sinks:
            try:
                problem = sink.check() if hasattr(sink, "check") else None
            except Exception as exc:  # noqa: BLE001 - a check that crashes is itself the problem
                problem = f"check failed: {exc}"
            if problem:
                self.sink_failed(sink.name, problem)
        return self.status()["outputs"]

    def status(self) -> dict:
        with self._lock:
            outputs = [{"sink": s.name, "ok": s.name not in self._failing, "problem": self._failing.get(s.name),
                        "failures": self._failures_by_sink.get(s.name, 0)} for s in self.sinks]
        return {"sent": self.sent, "failures": self.failures, "outputs": outputs}

    def close(self) -> None:
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:
                log.exception("alert sink close failed", extra={"event": "alert.sink_close_failed", "sink": sink.name})


def build_sink(name: str, config, data_dir: Path, on_failure: Callable[[str], None] | None = None) -> AlertSink:
    """One configured output, or a MissingOutput that says why its hardware is not there."""
    try:
        if name == "log":
            return LogSink()
        if name == "recording":
            return RecordingSink(Path(data_dir) / "alerts.jsonl")
        if name == "gpio":
            return GpioSink(config.gpio_buzzer_pin, config.gpio_led_pin, high_priority_max=config.high_priority_max)
        if name == "sound":
            return SoundSink(Path(data_dir), config.sound_device, config.sound_volume,
                             high_priority_max=config.high_priority_max, on_failure=on_failure)
        raise RuntimeError(f"unknown alert output {name!r}")
    except Exception as exc:  # noqa: BLE001 - missing hardware is a malfunction to report, not a crash
        log.error("alert sink unavailable", extra={"event": "alert.sink_unavailable", "sink": name, "error": str(exc)})
        return MissingOutput(name, str(exc) or type(exc).__name__)


def build_alerter(config, data_dir: Path, extra_sinks: list[AlertSink] | None = None,
                  on_event: Callable[[str, str, dict], None] | None = None) -> Alerter:
    """Outputs named in `alerts.sinks` plus any the caller adds (the screen, test recorders); each is checked
    at once, so a missing buzzer is a malfunction from the first second, not at the first hit."""
    alerter = Alerter([], on_event=on_event)
    for name in config.sinks:
        alerter.sinks.append(build_sink(name, config, data_dir,
                                        on_failure=lambda problem, n=name: alerter.sink_failed(n, problem)))
    alerter.sinks.extend(extra_sinks or [])
    alerter.check()
    return alerter
