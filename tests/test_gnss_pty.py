"""The serial source on a real pty: NMEA at a receiver's pace, then an unplug and a replug.

A USB receiver that is pulled and pushed back reappears under the same device name; here the
name is a symlink that is removed with the old pty and re-pointed at a fresh one.
"""

from __future__ import annotations

import errno
import os
import pty
import socket
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from firmware.clock import SystemClock
from firmware.gnss.config import GnssConfig
from firmware.gnss.service import GnssService
from firmware.gnss.timesync import SAMPLE, SOCK_MAGIC, unpack_sample

DEMO = Path(__file__).resolve().parents[1] / "firmware" / "assets" / "demo-route.nmea"
RATE_HZ = 4  # a 4 Hz receiver: the test needs a few epochs either side of the unplug, not minutes

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs ptys")


def nmea(body: str) -> bytes:
    value = 0
    for ch in body.encode():
        value ^= ch
    return f"${body}*{value:02X}\r\n".encode()


def epochs():
    """The demo route's epochs, re-timed to RATE_HZ, forever."""
    bodies = [l[1:l.index("*")] for l in DEMO.read_text().splitlines() if l.startswith("$")]
    groups = [bodies[i:i + 4] for i in range(0, len(bodies), 4)]
    n = 0
    while True:
        for group in groups:
            seconds = 16 * 3600 + n / RATE_HZ
            tod = f"{int(seconds // 3600):02d}{int(seconds % 3600 // 60):02d}{seconds % 60:05.2f}"
            out = b""
            for body in group:
                fields = body.split(",")
                if fields[0] in ("GPRMC", "GPGGA"):
                    fields[1] = tod
                out += nmea(",".join(fields))
            yield out
            n += 1


class Receiver:
    """A pty whose master side is written like a receiver would, reachable through `link`."""

    def __init__(self, link: Path, feed):
        self.link = link
        self.master, slave = pty.openpty()
        self.name = os.ttyname(slave)
        os.close(slave)
        os.set_blocking(self.master, False)
        if link.is_symlink():
            link.unlink()
        link.symlink_to(self.name)
        self.stop = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, args=(feed,), daemon=True)
        self.thread.start()

    def _run(self, feed):
        while not self.stop.wait(1.0 / RATE_HZ):
            try:
                os.write(self.master, next(feed))
                self.sent += 1
            except OSError as exc:  # nobody reading: the pty buffer is full or the reader is away
                if exc.errno not in (errno.EAGAIN, errno.EIO):
                    raise

    def unplug(self):
        if self.stop.is_set():
            return
        self.stop.set()
        self.thread.join()
        os.close(self.master)
        self.link.unlink()


def wait_until(predicate, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_serial_source_reads_pty_survives_unplug_and_recovers(tmp_path):
    link = tmp_path / "ttyGPS0"
    chronyd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # stands where chronyd listens
    chronyd.bind(str(tmp_path / "chrony.sock"))
    chronyd.settimeout(5)
    feed = epochs()
    receiver = Receiver(link, feed)
    events = []
    config = GnssConfig(source="serial", port=str(link), baud="auto", silence_timeout_s=1.0,
                        reconnect_backoff_max_s=1.0, min_valid_date="2025-01-01",
                        chrony_socket=tmp_path / "chrony.sock")
    service = GnssService(config, SystemClock(), lambda *e: events.append((time.monotonic(), *e)))
    service.start()
    try:
        assert service.wait_for_fix(60.0), f"no fix from the pty: {service.status()}"
        assert wait_until(lambda: service.counters["epochs_received"] >= 6, 60)
        status = service.status()
        assert status["connected"] and status["baud"] == 9600 and status["mode"] == 3
        p = service.position_at(time.monotonic_ns())
        assert p.method in ("fix", "extrapolated", "interpolated") and p.fix_age_s < 1.0
        assert abs(p.lat - 44.056) < 0.02
        sample = chronyd.recv(1024)
        system_s, offset_s, pulse, leap, magic = unpack_sample(sample)
        assert magic == SOCK_MAGIC and pulse == 0 and leap == 0 and len(sample) == SAMPLE.size
        assert abs(system_s - time.time()) < 5
        gps_s = system_s + offset_s - datetime(2025, 6, 14, 16, tzinfo=timezone.utc).timestamp()
        assert 0 <= gps_s < 600 and abs(gps_s * RATE_HZ - round(gps_s * RATE_HZ)) < 1e-3

        receiver.unplug()
        unplugged_at = time.monotonic()
        assert wait_until(lambda: any(e[1] == "malfunction" for e in events), 60), events
        assert service.counters["disconnects"] >= 1
        received_while_away = service.counters["epochs_received"]
        # it keeps trying the vanished port (and the fix ages past 1 s meanwhile)
        assert wait_until(lambda: service.counters["open_failures"] >= 1 and time.monotonic() - unplugged_at > 1.5, 60)
        assert service.position_at(time.monotonic_ns()).fix_age_s > 1.0

        receiver = Receiver(link, feed)
        assert wait_until(lambda: any(e[1] == "back_in_service" for e in events), 60), events
        assert wait_until(lambda: service.counters["epochs_received"] >= received_while_away + 4, 60)
        p = service.position_at(time.monotonic_ns())
        assert p.method in ("fix", "extrapolated", "interpolated") and p.fix_age_s < 1.0
        back = next(e for e in events if e[1] == "back_in_service")
        assert back[0] > unplugged_at and back[2] == "gps"
        assert service.status()["connected"]
    finally:
        service.stop()
        receiver.unplug()
        chronyd.close()
    assert service.counters["opens"] >= 2 and service.counters["chrony_samples"] >= 8


class MisclockedPort:
    """Stands in for a receiver at `true_baud`: read at any other rate, its bytes are noise.

    (A pty has no baud rate, so this is the one place a double replaces the real part.)"""

    def __init__(self, true_baud: int, baud: int):
        self.good = baud == true_baud
        self.feed = epochs()
        self.opened_at = baud

    def read(self, n: int) -> bytes:
        data = next(self.feed)
        return data if self.good else bytes((b * 7 + 3) & 0xFF for b in data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("true_baud", [4800, 9600, 38400, 115200])
def test_baud_probe_finds_the_receiver_rate(true_baud):
    from firmware.gnss.sources import BAUDS, probe_baud

    tried = []

    def opener(port, baud):
        tried.append(baud)
        return MisclockedPort(true_baud, baud)

    assert probe_baud("/dev/null", BAUDS, 1.0, threading.Event(), opener) == true_baud
    assert tried == list(BAUDS[:BAUDS.index(true_baud) + 1])


def test_baud_probe_gives_up_on_noise():
    from firmware.gnss.sources import BAUDS, probe_baud

    assert probe_baud("/dev/null", BAUDS, 0.6, threading.Event(),
                      lambda port, baud: MisclockedPort(0, baud)) is None
