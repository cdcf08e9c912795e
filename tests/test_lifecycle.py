"""An honest lifecycle record (issue 18 item 7), against the real daemon process where the finding
came from it: unclean stops recorded at the next start, READY only once a camera delivers, GPS fix
events debounced, and config warnings for plaintext credentials and reserved unit ids."""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

from conftest import alpr_unit_cmd
from firmware.clock import SystemClock
from firmware.demo import render_clip
from firmware.gnss.config import GnssConfig
from firmware.gnss.service import GnssService
from test_daemon import clip, db_rows, wait_for, write_config  # noqa: F401 - clip is a fixture
from test_gnss_service import FakeGpsd, tpv, wait_until


def fast_config(tmp_path: Path, data: Path, clip: Path) -> Path:
    config = write_config(tmp_path / "unit.toml", data, clip, fps=20, loop=True)
    config.write_text(config.read_text() + "\n[retention]\nclock_check_s = 0.5\n")
    return config


def rows(data: Path, sql: str) -> list:
    try:
        return db_rows(data, sql)
    except sqlite3.OperationalError:
        return []


def unit_events(data: Path, kind: str) -> list[dict]:
    return [json.loads(d) for (d,) in rows(data, f"SELECT detail FROM events WHERE source = 'unit' AND kind = '{kind}'")]


def test_an_unclean_stop_is_recorded_at_the_next_start_with_what_was_pending(tmp_path, clip):
    data = tmp_path / "data"
    config = fast_config(tmp_path, data, clip)
    proc = subprocess.Popen([*alpr_unit_cmd(), "run", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # a heartbeat that already counted reads: the marker knows what was going on
        assert wait_for(lambda: any(json.loads(p).get("reads", 0) >= 2 for (p,) in
                                    rows(data, "SELECT pending FROM unit_runs")), 120)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    (dead_id, stopped), = rows(data, "SELECT id, stopped_at FROM unit_runs")
    assert stopped is None
    proc = subprocess.Popen([*alpr_unit_cmd(), "run", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: unit_events(data, "malfunction"), 60), "no unclean-shutdown event"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    (event,) = unit_events(data, "malfunction")
    assert event["reason"] == "unclean shutdown" and event["run_id"] == dead_id
    assert event["pending"]["reads"] >= 2 and {"tracks", "frames_queued", "reads_held"} <= set(event["pending"])
    runs = rows(data, "SELECT id, stopped_at FROM unit_runs ORDER BY rowid")
    assert len(runs) == 2 and all(stopped for _, stopped in runs)   # the dead one closed, this one clean
    # a clean stop is not reported as unclean by the next start
    assert len(unit_events(data, "malfunction")) == 1


def test_ready_only_once_a_camera_delivers_a_frame(tmp_path):
    data = tmp_path / "data"
    later = tmp_path / "clip-not-yet"
    config = write_config(tmp_path / "unit.toml", data, later, fps=20, loop=True)
    config.write_text(config.read_text().replace('fps = 20', 'fps = 20\nreopen_backoff_max_s = 0.5')
                      + "\n[retention]\nclock_check_s = 0.5\n")
    sock_path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(sock_path))
    notify.settimeout(0.2)
    messages: list[str] = []

    def drain():
        while True:
            try:
                messages.append(notify.recv(4096).decode())
            except (TimeoutError, BlockingIOError, socket.timeout):
                return messages

    proc = subprocess.Popen([*alpr_unit_cmd(), "run", "--config", str(config)],
                            env=dict(os.environ, NOTIFY_SOCKET=str(sock_path)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: rows(data, "SELECT 1 FROM events WHERE source LIKE 'camera%'"), 60)
        # the daemon is up and beating (two heartbeats after the camera failed), and not READY
        assert wait_for(lambda: rows(data, "SELECT 1 FROM unit_runs WHERE seen_mono_ns > started_mono_ns + 1e9"), 30)
        assert not any("READY=1" in m for m in drain()), messages
        render_clip(later)       # the camera comes good
        assert wait_for(lambda: any("READY=1" in m for m in drain()), 60), messages
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert any("STOPPING=1" in m for m in drain())
    finally:
        if proc.poll() is None:
            proc.kill()
        notify.close()
    assert proc.returncode == 0, err[-2000:]


def test_gps_fix_events_are_debounced():
    gpsd = FakeGpsd()
    events = []
    config = GnssConfig(source="gpsd", gpsd_port=gpsd.port, fix_event_debounce_s=0.5, clock_offset_warn_s=3600)
    service = GnssService(config, SystemClock(), lambda *e: events.append(e))
    fix_events = lambda: [e[2]["reason"] for e in events if e[2].get("reason", "").startswith("fix ")]
    service.start()
    try:
        gpsd.accept()
        no_fix = {"class": "TPV", "mode": 1, "time": tpv(datetime.now(timezone.utc))["time"]}
        for i in range(30):     # a fix flickering every 20 ms under trees: no event either way
            gpsd.send(tpv(datetime.now(timezone.utc)) if i % 2 else dict(no_fix))
            time.sleep(0.02)
        assert wait_until(lambda: service.counters.get("fix_flickers", 0) >= 5)
        assert fix_events() == []
        started = time.monotonic()
        while not fix_events() and time.monotonic() - started < 5:   # held: one event after 0.5 s
            gpsd.send(tpv(datetime.now(timezone.utc)))
            time.sleep(0.05)
        assert fix_events() == ["fix acquired"]
        acquired = next(e[2] for e in events if e[2].get("reason") == "fix acquired")
        assert acquired["held_s"] >= 0.5
        started = time.monotonic()
        while fix_events() == ["fix acquired"] and time.monotonic() - started < 5:
            gpsd.send(dict(no_fix, time=tpv(datetime.now(timezone.utc))["time"]))
            time.sleep(0.05)
        assert fix_events() == ["fix acquired", "fix lost"]
    finally:
        service.stop()
        gpsd.close()


def test_config_validate_warns_on_plaintext_credentials_and_reserved_ids(tmp_path):
    risky = tmp_path / "risky.toml"
    risky.write_text('[unit]\nid = "down"\n\n[sync]\nhost = "broker.example"\nport = 1883\ntls = false\n'
                     'username = "unit"\npassword = "hunter2"\n')
    plain = subprocess.run([*alpr_unit_cmd(), "config", "validate", str(risky)], capture_output=True, text=True)
    assert plain.returncode == 0 and "2 warning(s)" in plain.stdout
    assert f"{risky}:7: sync.tls: tls = false with a password" in plain.stderr
    assert f"{risky}:2: unit.id: 'down' is a word of the MQTT topic tree" in plain.stderr
    strict = subprocess.run([*alpr_unit_cmd(), "config", "validate", "--strict", str(risky)],
                            capture_output=True, text=True)
    assert strict.returncode == 1 and "refused by --strict" in strict.stderr
    fine = tmp_path / "fine.toml"
    fine.write_text('[unit]\nid = "car-17"\n\n[sync]\nhost = "broker.example"\nusername = "u"\npassword = "p"\n')
    ok = subprocess.run([*alpr_unit_cmd(), "config", "validate", "--strict", str(fine)], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stderr == "" and ok.stdout.strip() == f"{fine}: ok"
