"""GnssService with real sources: file replay against a manual clock, a real gpsd-protocol socket,
source none; plus the CLI, the bench and the shipped demo route."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path

import pytest

from firmware.cli import main
from firmware.clock import ManualClock, SystemClock
from firmware.gnss.config import GnssConfig
from firmware.gnss.epoch import parse_bytes
from firmware.gnss.service import GnssService

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "firmware" / "assets" / "demo-route.nmea"


def wait_until(predicate, timeout=60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def small_file(tmp_path, epochs: int = 3) -> Path:
    lines = DEMO.read_text().splitlines()
    sentences = [l for l in lines if l.startswith("$")][: 4 * epochs]
    path = tmp_path / "short.nmea"
    path.write_text("\n".join(sentences) + "\n")
    return path


def test_source_none_answers_none_and_never_starts_a_thread():
    service = GnssService(GnssConfig(source="none"), ManualClock())
    service.start()
    assert threading.active_count() >= 1
    assert service.position_at(123).method == "none"
    assert service.wait_for_fix(0.01) is False
    status = service.status()
    assert status["source"] == "none" and status["connected"] is False and status["mode"] is None
    json.dumps(status)
    service.stop()


def test_file_replay_first_epoch_at_once_then_paced_by_the_clock(tmp_path):
    clock = ManualClock()
    events = []
    service = GnssService(GnssConfig(source="file", file=small_file(tmp_path, 3), replay_loop=False), clock,
                          lambda *e: events.append(e))
    service.start()
    try:
        assert service.wait_for_fix(60.0), "first epoch must come without the clock moving"
        time.sleep(0.2)
        assert service.counters["epochs_received"] == 1
        first_mono = clock.monotonic_ns()
        at_first = service.position_at(first_mono)
        assert at_first.method == "fix" and at_first.fix_age_s == 0.0
        clock.advance(1.0)
        assert wait_until(lambda: service.counters["epochs_received"] == 2)
        # halfway between the two fixes' arrival times: interpolated
        mid = service.position_at(first_mono + 500_000_000)
        assert mid.method == "interpolated"
        assert mid.fix_time == datetime(2025, 6, 14, 16, 0, 0, tzinfo=timezone.utc)
        clock.advance(1.0)
        assert wait_until(lambda: service.counters["epochs_received"] == 3)
        assert wait_until(lambda: not service.status()["connected"])  # replay finished, no loop
        # the link state flips before the malfunction event is emitted (GnssService._on_link): wait for it
        assert wait_until(lambda: "malfunction" in [e[0] for e in events])
        kinds = [e[0] for e in events]
        assert kinds[0] == "info" and "malfunction" in kinds and all(e[1] == "gps" for e in events)
        clock.advance(0.5)
        assert service.position_at(clock.monotonic_ns()).method == "extrapolated"
        clock.advance(30)
        assert service.position_at(clock.monotonic_ns()).method == "stale"
    finally:
        service.stop()


def test_file_replay_speed_and_loop(tmp_path):
    clock = ManualClock()
    config = GnssConfig(source="file", file=small_file(tmp_path, 2), replay_speed=4.0, replay_loop=True)
    service = GnssService(config, clock)
    service.start()
    try:
        assert service.wait_for_fix(60.0)
        clock.advance(0.25)  # one epoch-second at 4x
        assert wait_until(lambda: service.counters["epochs_received"] == 2)
        clock.advance(0.25)  # the loop's pause of one epoch
        assert wait_until(lambda: service.counters["replay_loops"] == 1)
        assert wait_until(lambda: service.counters["epochs_received"] == 3)
    finally:
        service.stop()
    assert not any(t.name == "gnss" for t in threading.enumerate())


def test_file_replay_of_missing_file_reports_malfunction(tmp_path):
    events = []
    service = GnssService(GnssConfig(source="file", file=tmp_path / "nope.nmea"), ManualClock(),
                          lambda *e: events.append(e))
    service.start()
    try:
        assert wait_until(lambda: events)
        assert events[0][0] == "malfunction" and "cannot read" in events[0][2]["reason"]
    finally:
        service.stop()


class FakeGpsd:
    """A real TCP server speaking gpsd's JSON watch protocol, fed TPV/SKY lines by the test."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.port = self.server.getsockname()[1]
        self.conn = None
        self.watch = b""

    def accept(self, timeout=5.0):
        self.server.settimeout(timeout)
        self.conn, _ = self.server.accept()
        self.conn.settimeout(timeout)
        self.watch = self.conn.recv(1024)

    def send(self, obj: dict):
        self.conn.sendall(json.dumps(obj).encode() + b"\n")

    def drop(self):
        self.conn.close()
        self.conn = None

    def close(self):
        if self.conn:
            self.conn.close()
        self.server.close()


def tpv(t: datetime, lat=44.05, lon=-121.31, mode=3) -> dict:
    return {"class": "TPV", "mode": mode, "time": t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "lat": lat, "lon": lon, "altMSL": 1100.0, "speed": 12.0, "track": 90.0}


def test_gpsd_source_positions_clock_offset_and_reconnect():
    gpsd = FakeGpsd()
    clock = SystemClock()
    events = []
    config = GnssConfig(source="gpsd", gpsd_port=gpsd.port, clock_offset_warn_s=1.0, reconnect_backoff_max_s=1.0)
    service = GnssService(config, clock, lambda *e: events.append(e))
    service.start()
    try:
        gpsd.accept()
        assert b"WATCH" in gpsd.watch
        gpsd.send({"class": "SKY", "hdop": 0.8, "uSat": 11})
        for i in range(4):  # GPS time 3 s ahead of the system clock
            gpsd.send(tpv(datetime.now(timezone.utc) + timedelta(seconds=3), lat=44.05 + i * 1e-4))
            time.sleep(0.05)
        assert service.wait_for_fix(60.0)
        assert wait_until(lambda: any(e[0] == "warning" for e in events))
        warning = next(e for e in events if e[0] == "warning")
        assert warning[2]["offset_s"] == pytest.approx(3.0, abs=0.5)
        assert clock.source() == "system-unsynced"
        status = service.status()
        assert status["connected"] and status["sats"] == 11 and status["hdop"] == 0.8
        assert status["clock_offset_s"] == pytest.approx(3.0, abs=0.5)
        for i in range(15):  # the system clock agrees again
            gpsd.send(tpv(datetime.now(timezone.utc), lat=44.06))
        assert wait_until(lambda: clock.source() == "gps")
        assert any(e[0] == "info" and e[2].get("reason") == "clock offset" for e in events)
        p = service.position_at(time.monotonic_ns())
        assert p.method in ("fix", "extrapolated") and p.lat == pytest.approx(44.06, abs=1e-3)
        gpsd.drop()  # gpsd restarts
        assert wait_until(lambda: any(e[0] == "malfunction" for e in events))
        gpsd.accept()
        gpsd.send(tpv(datetime.now(timezone.utc)))
        assert wait_until(lambda: any(e[0] == "back_in_service" for e in events))
    finally:
        service.stop()
        gpsd.close()


def test_cli_parse_demo_route_json(capsys):
    assert main(["gps", "parse", str(DEMO), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 600
    assert rows[0]["time"] == "2025-06-14T16:00:00.000Z" and rows[-1]["time"] == "2025-06-14T16:09:59.000Z"
    assert all(r["mode"] == 3 and r["sats"] >= 9 and r["alt_m"] is not None for r in rows)


def test_cli_parse_missing_file_is_usage_error(tmp_path):
    assert main(["gps", "parse", str(tmp_path / "none.nmea"), "--json"]) == 2


def test_cli_watch_replays_a_file():
    out = subprocess.run([sys.executable, "-m", "firmware", "gps", "watch", "--file", str(DEMO), "--seconds", "2",
                          "--json"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    statuses = [json.loads(l) for l in out.stdout.splitlines() if '"counters"' in l]
    assert statuses and statuses[-1]["mode"] == 3 and statuses[-1]["connected"]


def test_bench_gps_prints_sentences_per_second(capsys):
    assert main(["bench", "gps", "--json", "--repeat", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["sentences"] == 2400 and result["sentences_per_s"] > 100


def test_demo_route_asset_is_fresh_and_plausible():
    check = subprocess.run([sys.executable, str(ROOT / "scripts" / "make-demo-route.py"), "--check"],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    packaged = (resources.files("firmware") / "assets" / "demo-route.nmea").read_bytes()
    counters = Counter()
    fixes = parse_bytes(packaged, counters=counters)
    assert counters["bad_checksum"] == 0 and counters["truncated"] == 0 and counters["sentences"] == 2400
    assert len(fixes) == 600 and all(f.mode == 3 and f.has_position for f in fixes)
    assert fixes[-1].time - fixes[0].time == timedelta(seconds=599)
    kmh = [f.speed_mps * 3.6 for f in fixes]
    assert 29.9 <= min(kmh) and max(kmh) <= 60.1
    from firmware.gnss.track import distance_m
    start_end = distance_m(fixes[0].lat, fixes[0].lon, fixes[-1].lat, fixes[-1].lon)
    spread = max(distance_m(fixes[0].lat, fixes[0].lon, f.lat, f.lon) for f in fixes)
    assert spread < 3000 and start_end < spread  # a town loop, not a highway run


def test_wait_for_fix_returns_early_when_the_source_is_gone(tmp_path):
    service = GnssService(GnssConfig(source="file", file=tmp_path / "missing.nmea"), ManualClock())
    service.start()
    try:
        started = time.monotonic()
        assert service.wait_for_fix(20.0) is False
        assert time.monotonic() - started < 5.0
    finally:
        service.stop()


GPSD_CHK = ROOT.parent / "shared" / "data" / "nmea" / "gpsd" / "ublox-neo-m9n-nmea.log.chk"


@pytest.mark.skipif(not GPSD_CHK.exists(), reason="../shared gpsd captures not present")
def test_gpsd_source_reads_real_gpsd_reports():
    """gpsd's own JSON from its regression suite, served over a real socket."""
    reports = [l for l in GPSD_CHK.read_text(encoding="latin-1").splitlines() if l.startswith("{")]
    tpvs = [json.loads(l) for l in reports if '"class":"TPV"' in l]
    gpsd = FakeGpsd()
    service = GnssService(GnssConfig(source="gpsd", gpsd_port=gpsd.port), SystemClock())
    service.start()
    try:
        gpsd.accept()
        gpsd.conn.sendall(("\n".join(reports) + "\n").encode())
        assert wait_until(lambda: service.counters["gpsd_tpv"] == len(tpvs), 60)
        last = service.track.last_fix()
        final = [t for t in tpvs if t.get("mode", 0) >= 2][-1]
        assert (last.lat, last.lon) == (final["lat"], final["lon"])
        assert last.time == datetime.fromisoformat(final["time"].replace("Z", "+00:00"))
        assert service.status()["sats"] is not None and service.status()["hdop"] is not None
    finally:
        service.stop()
        gpsd.close()
