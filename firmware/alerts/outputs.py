"""The car's alert hardware: buzzer and LED on GPIO (gpiozero), a tone through ALSA (aplay).

Each output can say whether it works (`check()`), so a unit whose buzzer is missing reports a
malfunction at start, in health, on the screen and in `selftest` instead of raising hits nobody hears.
The hardware libraries sit behind small seams (`pin_factory`, `player`) so tests drive gpiozero's
mock pins and a recording player; on the Pi the defaults are the real lgpio pins and `aplay`.
"""

from __future__ import annotations

import io
import logging
import math
import shutil
import struct
import subprocess
import threading
import wave
import warnings
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

# (on seconds, off seconds, repeats) for buzzer and LED: urgent hits (high-priority lists) insist.
PATTERNS = {
    "urgent": {"buzzer": (0.12, 0.08, 6), "led": (0.1, 0.1, 30)},
    "normal": {"buzzer": (0.15, 0.1, 3), "led": (0.2, 0.2, 10)},
}


def pattern_for(alert, high_priority_max: int) -> str:
    """urgent when any shown hit comes from a list at or above the high-priority line (0 is highest)."""
    return "urgent" if min(h.priority for h in alert.hits) <= high_priority_max else "normal"


class MissingOutput:
    """A configured output whose hardware could not be opened: every alert through it is a failure, and it
    says why in health and selftest, rather than disappearing from the list of outputs."""

    def __init__(self, name: str, problem: str):
        self.name = name
        self.problem = problem

    def alert(self, alert) -> None:
        raise RuntimeError(f"{self.name} output unavailable: {self.problem}")

    def check(self) -> str | None:
        return self.problem

    def close(self) -> None:
        pass


class GpioSink:
    """Buzzer and LED on BCM pins through gpiozero (lgpio on Pi OS bookworm)."""

    name = "gpio"

    def __init__(self, buzzer_pin: int, led_pin: int, *, high_priority_max: int = 20, pin_factory=None):
        try:
            from gpiozero import LED, Buzzer  # type: ignore[import-not-found]
        except ImportError as exc:
            raise RuntimeError("gpiozero is not installed (install alpr-unit[pi] on the unit)") from exc
        self.high_priority_max = high_priority_max
        with warnings.catch_warnings():   # gpiozero warns once per pin library it tries; the outcome is what counts
            warnings.simplefilter("ignore")
            self._buzzer = Buzzer(buzzer_pin, pin_factory=pin_factory)
            self._led = LED(led_pin, pin_factory=pin_factory)

    def alert(self, alert) -> None:
        pattern = PATTERNS[pattern_for(alert, self.high_priority_max)]
        on, off, n = pattern["led"]
        self._led.blink(on_time=on, off_time=off, n=n, background=True)
        if alert.audible:
            on, off, n = pattern["buzzer"]
            self._buzzer.beep(on_time=on, off_time=off, n=n, background=True)

    def check(self) -> str | None:
        if self._buzzer.closed or self._led.closed:
            return "gpio buzzer/LED closed"
        return None

    def close(self) -> None:
        self._buzzer.close()
        self._led.close()


def alert_tone(volume: float, rate: int = 16000, urgent: bool = False) -> bytes:
    """A two-tone WAV the unit generates itself (880/660 Hz; urgent: 1200/900 Hz, three times)."""
    high, low = (1200, 900) if urgent else (880, 660)
    frames = bytearray()
    for freq, dur in ((high, 0.18), (0, 0.05), (low, 0.18), (0, 0.05)) * (3 if urgent else 2):
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


def aplay(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def alsa_problem(device: str, player: Callable = aplay) -> str | None:
    """Whether ALSA can open `device` for playback: `aplay -L` lists the PCM names it knows."""
    exe = shutil.which("aplay") if player is aplay else "aplay"
    if exe is None:
        return "aplay not found (install alsa-utils)"
    try:
        listed = player([exe, "-L"], 10)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"aplay -L failed: {exc}"
    names = {line.strip().split(":")[0] for line in listed.stdout.splitlines() if line and not line[0].isspace()}
    names |= {line.strip() for line in listed.stdout.splitlines() if line and not line[0].isspace()}
    if listed.returncode != 0 or (device not in names and device.split(":")[0] not in names):
        return f"ALSA device {device!r} not found" + (f" ({listed.stderr.strip()})" if listed.stderr.strip() else "")
    return None


class SoundSink:
    """The tone through ALSA `aplay`; playback runs on its own short thread so capture never waits, and a
    playback that fails is reported (`on_failure`) instead of passing unheard."""

    name = "sound"

    def __init__(self, wav_dir: Path, device: str, volume: float, *, high_priority_max: int = 20,
                 player: Callable = aplay, on_failure: Callable[[str], None] | None = None):
        self.device = device
        self.high_priority_max = high_priority_max
        self.player = player
        self.on_failure = on_failure
        self.wavs = {}
        Path(wav_dir).mkdir(parents=True, exist_ok=True)
        for kind in ("normal", "urgent"):
            path = Path(wav_dir) / f"alert-{kind}.wav"
            path.write_bytes(alert_tone(volume, urgent=kind == "urgent"))
            self.wavs[kind] = path
        self.problem = alsa_problem(device, player)
        if self.problem:
            raise RuntimeError(self.problem)
        self.last_error: str | None = None

    def alert(self, alert) -> None:
        if not alert.audible:
            return
        wav = self.wavs[pattern_for(alert, self.high_priority_max)]
        threading.Thread(target=self._play, args=(wav,), name="alert-sound", daemon=True).start()

    def _play(self, wav: Path) -> None:
        try:
            done = self.player(["aplay", "-q", "-D", self.device, str(wav)], 15)
            error = None if done.returncode == 0 else (done.stderr.strip() or f"aplay exit {done.returncode}")
        except (OSError, subprocess.SubprocessError) as exc:
            error = str(exc)
        self.last_error = error
        if error:
            log.error("alert sound failed", extra={"event": "alert.sound_failed", "error": error})
            if self.on_failure:
                self.on_failure(error)

    def check(self) -> str | None:
        return self.last_error or alsa_problem(self.device, self.player)

    def close(self) -> None:
        pass
