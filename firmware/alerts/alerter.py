"""Alerts: the officer hears and sees a hit, and must verify it before acting.

An `Alerter` fans one alert out to sinks (log, recording for tests/HIL, GPIO buzzer/LED, sound).
A failing sink is logged and skipped: one broken buzzer must never hide the alert elsewhere.
"""

from __future__ import annotations

import io
import json
import logging
import math
import shutil
import struct
import subprocess
import threading
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from firmware.clock import iso_utc
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

    def close(self) -> None: ...


class LogSink:
    """The one place a plate appears in the application log: a hit is an operational event for the officer."""

    name = "log"

    def alert(self, alert: Alert) -> None:
        best = alert.hits[0]
        log.warning("HOTLIST HIT %s (%s) list=%s match=%s - %s", alert.plate, best.category or "-", best.list_name,
                    best.match, VERIFY_NOTICE, extra={"event": "alert.hit", "read_id": alert.read_id})

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
            if self.path is not None:
                with open(self.path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(alert.as_dict()) + "\n")

    def close(self) -> None:
        pass


class GpioSink:
    """Buzzer and LED on BCM pins through gpiozero (lazy import: only on the Pi)."""

    name = "gpio"

    def __init__(self, buzzer_pin: int, led_pin: int):
        from gpiozero import LED, Buzzer  # type: ignore[import-not-found]

        self._buzzer = Buzzer(buzzer_pin)
        self._led = LED(led_pin)

    def alert(self, alert: Alert) -> None:
        self._led.blink(on_time=0.2, off_time=0.2, n=10, background=True)
        if alert.audible:
            self._buzzer.beep(on_time=0.15, off_time=0.1, n=3, background=True)

    def close(self) -> None:
        self._buzzer.close()
        self._led.close()


def alert_tone(volume: float, rate: int = 16000) -> bytes:
    """A two-tone 880/660 Hz WAV the unit generates itself: nothing to ship, nothing to lose."""
    frames = bytearray()
    for freq, dur in ((880, 0.18), (0, 0.05), (660, 0.18), (0, 0.05)) * 2:
        for i in range(int(rate * dur)):
            envelope = min(1.0, i / 160, (int(rate * dur) - i) / 160)
            sample = volume * envelope * math.sin(2 * math.pi * freq * i / rate) if freq else 0.0
            frames += struct.pack("<h", int(sample * 32767))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return buf.getvalue()


class SoundSink:
    """ALSA `aplay` of the generated tone; playback runs in the background so capture never waits."""

    name = "sound"

    def __init__(self, wav_path: Path, device: str, volume: float):
        self.wav_path = Path(wav_path)
        self.device = device
        self.wav_path.parent.mkdir(parents=True, exist_ok=True)
        self.wav_path.write_bytes(alert_tone(volume))
        self._aplay = shutil.which("aplay")
        if self._aplay is None:
            log.warning("aplay not found; sound alerts disabled", extra={"event": "alert.sound_unavailable"})

    def alert(self, alert: Alert) -> None:
        if alert.audible and self._aplay:
            subprocess.Popen([self._aplay, "-q", "-D", self.device, str(self.wav_path)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def close(self) -> None:
        pass


class Alerter:
    def __init__(self, sinks: list[AlertSink]):
        self.sinks = sinks
        self.sent = 0
        self.failures = 0

    def alert(self, alert: Alert) -> None:
        self.sent += 1
        for sink in self.sinks:
            try:
                sink.alert(alert)
            except Exception:
                self.failures += 1
                log.exception("alert sink failed", extra={"event": "alert.sink_failed", "sink": sink.name})

    def close(self) -> None:
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:
                log.exception("alert sink close failed", extra={"event": "alert.sink_close_failed", "sink": sink.name})


def build_alerter(config, data_dir: Path, extra_sinks: list[AlertSink] | None = None) -> Alerter:
    """Sinks named in `alerts.sinks`; a sink whose hardware is missing is reported and left out."""
    sinks: list[AlertSink] = []
    for name in config.sinks:
        try:
            if name == "log":
                sinks.append(LogSink())
            elif name == "recording":
                sinks.append(RecordingSink(Path(data_dir) / "alerts.jsonl"))
            elif name == "gpio":
                sinks.append(GpioSink(config.gpio_buzzer_pin, config.gpio_led_pin))
            elif name == "sound":
                sinks.append(SoundSink(Path(data_dir) / "alert.wav", config.sound_device, config.sound_volume))
        except Exception as exc:
            log.error("alert sink unavailable", extra={"event": "alert.sink_unavailable", "sink": name, "error": str(exc)})
    return Alerter(sinks + list(extra_sinks or []))
