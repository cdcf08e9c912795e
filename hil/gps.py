"""The GNSS receiver a rig plays: a route driven at a set speed, spoken as NMEA at real rate into a pty.

The unit opens the pty as its serial receiver (`gps.source = "serial"`), through a stable symlink:
`unplug()` closes the pty and removes the link, as a pulled USB receiver vanishes, and `plug()`
makes a new one under the same name, as it comes back. `garbage(seconds)` sends line noise instead
of sentences. Each epoch carries the wall-clock time at which it is sent, so the route's position
at any instant is known to the rig (`Route.at`) and a read's position can be judged against it.
"""

from __future__ import annotations

import math
import os
import pty
import random
import threading
import time
import tty
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

EARTH_M = 6_371_000.0


def checksum(body: str) -> str:
    value = 0
    for ch in body:
        value ^= ord(ch)
    return f"{value:02X}"


def sentence(body: str) -> str:
    return f"${body}*{checksum(body)}"


def _dm(value: float, lat: bool) -> tuple[str, str]:
    hemi = ("N" if value >= 0 else "S") if lat else ("E" if value >= 0 else "W")
    value = abs(value)
    degrees = int(value)
    minutes = (value - degrees) * 60
    return (f"{degrees:02d}{minutes:08.5f}" if lat else f"{degrees:03d}{minutes:08.5f}"), hemi


def epoch_sentences(at: datetime, lat: float, lon: float, speed_mps: float, course_deg: float) -> list[str]:
    """RMC + GGA + GSA for one instant: what a u-blox receiver says once a second with a 3D fix."""
    hhmmss = at.strftime("%H%M%S") + f".{at.microsecond // 10000:02d}"
    ddmmyy = at.strftime("%d%m%y")
    la, ns = _dm(lat, True)
    lo, ew = _dm(lon, False)
    knots = speed_mps * 1.943844
    return [
        sentence(f"GPRMC,{hhmmss},A,{la},{ns},{lo},{ew},{knots:.3f},{course_deg:.2f},{ddmmyy},,,A"),
        sentence(f"GPGGA,{hhmmss},{la},{ns},{lo},{ew},1,10,0.90,1105.0,M,-21.3,M,,"),
        sentence("GPGSA,A,3,02,05,06,09,12,17,19,20,25,29,,,1.50,0.90,1.20"),
    ]


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_M * math.asin(min(1.0, math.sqrt(a)))


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return (math.degrees(math.atan2(y, x)) + 360) % 360


@dataclass(frozen=True)
class Route:
    """Waypoints (lat, lon) driven at `speed_mps` from the first; the car stops at the last."""

    waypoints: tuple[tuple[float, float], ...]
    speed_mps: float

    def at(self, seconds: float) -> tuple[float, float, float, float]:
        """(lat, lon, speed m/s, course deg) `seconds` after the drive began (clamped to its ends)."""
        travelled = max(0.0, seconds) * self.speed_mps
        points = self.waypoints
        for (la1, lo1), (la2, lo2) in zip(points, points[1:]):
            leg = distance_m(la1, lo1, la2, lo2)
            course = bearing_deg(la1, lo1, la2, lo2)
            if travelled <= leg and leg > 0:
                f = travelled / leg
                return la1 + (la2 - la1) * f, lo1 + (lo2 - lo1) * f, self.speed_mps, course
            travelled -= leg
        last = points[-1]
        course = bearing_deg(*points[-2], *last) if len(points) > 1 else 0.0
        return last[0], last[1], 0.0, course


class PtyGps:
    """A receiver on a pty behind the symlink `link`, talking once per `period_s` from `start()`."""

    def __init__(self, route: Route, link: Path, period_s: float = 1.0, clock=None):
        self.route = route
        self.link = Path(link)
        self.period_s = period_s
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.started_at: datetime | None = None
        self.epochs = 0
        self.garbage_bytes = 0
        self._lock = threading.Lock()
        self._fds: tuple[int, int] | None = None
        self._garbage_until = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hil-gps", daemon=True)
        self.plug()

    # -- the cable ------------------------------------------------------------------------------
    def plug(self) -> None:
        with self._lock:
            if self._fds is not None:
                return
            master, slave = pty.openpty()
            tty.setraw(slave)
            os.set_blocking(master, False)
            self._fds = (master, slave)
            tmp = self.link.with_suffix(".new")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(os.ttyname(slave))
            os.replace(tmp, self.link)

    def unplug(self) -> None:
        with self._lock:
            if self._fds is None:
                return
            self.link.unlink(missing_ok=True)
            for fd in self._fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._fds = None

    def garbage(self, seconds: float) -> None:
        self._garbage_until = time.monotonic() + seconds

    # -- talking --------------------------------------------------------------------------------
    def start(self) -> "PtyGps":
        self.started_at = self.clock()
        self._thread.start()
        return self

    def position_at(self, when: datetime) -> tuple[float, float]:
        lat, lon, _, _ = self.route.at((when - self.started_at).total_seconds())
        return lat, lon

    def _write(self, data: bytes) -> None:
        with self._lock:
            if self._fds is None:
                return
            try:
                os.write(self._fds[0], data)
            except OSError:
                pass   # nobody reading yet and the pty buffer full: a receiver talks regardless

    def _run(self) -> None:
        rng = random.Random(7)
        next_due = time.monotonic()
        while not self._stop.is_set():
            now = self.clock()
            if time.monotonic() < self._garbage_until:
                junk = bytes(rng.randrange(256) for _ in range(200)) + b"$GPRMC,12\r\n$GPGGA,*ZZ\r\n"
                self.garbage_bytes += len(junk)
                self._write(junk)
            else:
                lat, lon, speed, course = self.route.at((now - self.started_at).total_seconds())
                self._write(("\r\n".join(epoch_sentences(now, lat, lon, speed, course)) + "\r\n").encode())
                self.epochs += 1
            next_due += self.period_s
            if self._stop.wait(max(0.0, next_due - time.monotonic())):
                return

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self.unplug()
