"""Hand GPS time to chrony through its SOCK refclock, when the firmware (not gpsd) owns the port.

chrony has no NMEA driver: it takes time from gpsd (SHM/SOCK) or from any program that writes
`struct sock_sample` datagrams to a socket chronyd listens on. When the unit's receiver is read by
this firmware, the service sends one sample per dated fix; device/chrony/alpr-gnss.conf declares
the socket. NMEA time arrives 50-500 ms after the instant it names (receiver and UART latency),
so chrony's `offset`/`delay` on that refclock absorb the constant part; PPS, where wired, gives
the precise edge and NMEA only numbers the seconds.
"""

from __future__ import annotations

import logging
import socket
import struct
from pathlib import Path

log = logging.getLogger(__name__)
SOCK_MAGIC = 0x534F434B
# struct sock_sample { struct timeval tv; double offset; int pulse; int leap; int _pad; int magic; }
# in the host's native layout, as chronyd compares the datagram size with sizeof(struct sock_sample).
SAMPLE = struct.Struct("@lldiiii")


def pack_sample(system_time_s: float, offset_s: float, leap: int = 0) -> bytes:
    """One sample: the system time of the measurement and true-minus-system offset in seconds."""
    sec = int(system_time_s // 1)
    usec = int(round((system_time_s - sec) * 1e6))
    if usec >= 1_000_000:
        sec, usec = sec + 1, usec - 1_000_000
    return SAMPLE.pack(sec, usec, offset_s, 0, leap, 0, SOCK_MAGIC)


def unpack_sample(data: bytes) -> tuple[float, float, int, int, int]:
    sec, usec, offset, pulse, leap, _pad, magic = SAMPLE.unpack(data)
    return sec + usec / 1e6, offset, pulse, leap, magic


class ChronySock:
    """Best effort: a missing or dead chronyd costs a counter, never the fix."""

    def __init__(self, path: Path | None):
        self.path = Path(path) if path else None
        self.sent = 0
        self.failed = 0
        self._sock: socket.socket | None = None

    def send(self, system_time_s: float, offset_s: float) -> bool:
        if self.path is None or not self.path.exists():
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.setblocking(False)
            self._sock.sendto(pack_sample(system_time_s, offset_s), str(self.path))
            self.sent += 1
            return True
        except OSError as exc:
            self.failed += 1
            if self.failed == 1 or self.failed % 600 == 0:
                log.warning("cannot send time to chrony at %s: %s", self.path, exc,
                            extra={"event": "gps_chrony_send_failed", "failures": self.failed})
            self.close()
            return False

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
