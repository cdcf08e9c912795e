"""Bench mode: the parts of the world a physical unit needs from the rig (see hil/README.md, wiring).

- `SerialGps`: NMEA into a USB-serial adapter wired (null-modem) to the unit's receiver input, at
  the receiver's real rate; on a bench "unplugged" is silence unless a switchable hub cuts power
  (`unplug_command`, e.g. `uhubctl -l 1-1 -p 2 -a off`).
- `MonitorPlayer`: the rendered frames full-screen on a monitor in front of the unit's camera, at
  the scenario's rate, from the moment the daemon starts.
- `GpioProbe`: the unit's buzzer/LED output read back on a second GPIO line (the rig's own, through
  libgpiod's `gpiomon`), so an alert is judged by the wire, not by the unit's word.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import termios
import threading
import time
import tty
from dataclasses import dataclass
from pathlib import Path

from hil.gps import PtyGps, Route


@dataclass(frozen=True)
class BenchOptions:
    nmea_device: str | None = None        # the rig's side of the USB-serial adapter
    unit_gps_port: str = "/dev/ttyUSB0"   # the unit's side
    monitor: bool = False                 # show frames on a monitor instead of copying them to the unit
    unit_camera: str = "picamera2:0"      # KIND:URI of the unit's real camera when --monitor
    gpio_probe: str | None = None         # gpiomon arguments, e.g. "gpiochip0 17"
    unplug_command: str | None = None
    plug_command: str | None = None


class SerialGps(PtyGps):
    """The same talker as PtyGps, into a real serial device (9600 8N1, raw)."""

    def __init__(self, route: Route, device: str, period_s: float = 1.0, unplug_command: str | None = None,
                 plug_command: str | None = None):
        self.device = device
        self.unplug_command, self.plug_command = unplug_command, plug_command
        super().__init__(route, Path(device), period_s)

    def plug(self) -> None:
        with self._lock:
            if self._fds is not None:
                return
            if self.plug_command:
                subprocess.run(shlex.split(self.plug_command), capture_output=True, timeout=30)
            fd = os.open(self.device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            tty.setraw(fd)
            attrs = termios.tcgetattr(fd)
            attrs[4] = attrs[5] = termios.B9600
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
            self._fds = (fd, os.dup(fd))

    def unplug(self) -> None:
        with self._lock:
            if self._fds is None:
                return
            for fd in self._fds:
                os.close(fd)
            self._fds = None
            if self.unplug_command:
                subprocess.run(shlex.split(self.unplug_command), capture_output=True, timeout=30)


class MonitorPlayer:
    """Frames of a folder shown full-screen at `fps`; `window` False renders nowhere (tests, headless)."""

    def __init__(self, folder: Path, fps: float, window: bool = True):
        self.files = sorted(Path(folder).glob("*.jpg"))
        self.fps, self.window = fps, window
        self.shown = 0
        self.started_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hil-monitor", daemon=True)

    def start(self) -> "MonitorPlayer":
        self._thread.start()
        return self

    def _run(self) -> None:
        import cv2

        if self.window:
            cv2.namedWindow("alpr-hil", cv2.WND_PROP_FULLSCREEN)
            cv2.setWindowProperty("alpr-hil", cv2.WND_PROP_FULLSCREEN, cv2.WINDOW_FULLSCREEN)
        self.started_at = time.time()
        for index, path in enumerate(self.files):
            due = self.started_at + index / self.fps
            if self._stop.wait(max(0.0, due - time.time())):
                break
            image = cv2.imread(str(path))
            if self.window and image is not None:
                cv2.imshow("alpr-hil", image)
                cv2.waitKey(1)
            self.shown += 1
        if self.window:
            cv2.destroyAllWindows()

    def ended(self) -> bool:
        return not self._thread.is_alive() and self.started_at is not None

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)


EDGE = re.compile(r"(RISING|FALLING)\s+EDGE.*?\[\s*([0-9.]+)\s*\]|([0-9.]+)\s+(rising|falling)", re.IGNORECASE)


def parse_edge(line: str) -> tuple[str, float] | None:
    """One `gpiomon` line (v1: 'event:  RISING EDGE offset: 22 timestamp: [ 1700000000.123456789]';
    v2: '1700000000.123456789 rising gpiochip0 22') -> ('rising', seconds)."""
    m = EDGE.search(line)
    if not m:
        return None
    if m.group(1):
        return m.group(1).lower(), float(m.group(2))
    return m.group(4).lower(), float(m.group(3))


class GpioProbe:
    """Runs `command` (gpiomon on the rig's input line) and keeps every edge it reports."""

    def __init__(self, command: list[str]):
        self.command = command
        self.edges: list[tuple[str, float]] = []
        self.proc: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._run, name="hil-gpio", daemon=True)

    @classmethod
    def gpiomon(cls, spec: str) -> "GpioProbe":
        chip, line = spec.split()
        return cls(["gpiomon", "--rising-edge", chip, line])

    def start(self) -> "GpioProbe":
        self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        for line in self.proc.stdout:
            edge = parse_edge(line)
            if edge:
                self.edges.append(edge)

    def rising(self) -> list[float]:
        return [t for kind, t in self.edges if kind == "rising"]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        self._thread.join(5)
