"""The HIL rig: its short scenario set against the real daemon (subprocess, pty GPS, mosquitto, signed
downlink), one of them through the bench code path (SshTarget over `sh -c`); a scenario that must
fail does; and the rig's own parts (scenario validation, NMEA, reports, soak maths and plots)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from functools import reduce
from pathlib import Path

import pytest

from conftest import REPO
from firmware.sync.testbroker import mosquitto_binary
from hil.gps import Route, checksum, distance_m, epoch_sentences
from hil.report import json_line, junit, summary_lines
from hil.runner import Outcome
from hil.scenario import catalogue, load
from hil.soak import growth_failures, slope_per_hour, write_outputs
from hil.unitconfig import base_config, to_toml

SHORT = sorted(p.stem for p, s in catalogue() if not isinstance(s, Exception) and s.set == "short")
needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def hil(*args: str, timeout: float = 280, tmpdir: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TMPDIR": str(tmpdir)} if tmpdir else None   # the rig's temp data, apart from others'
    return subprocess.run([sys.executable, "-m", "hil", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=timeout, env=env)


# --- the scenarios, against the real daemon ---------------------------------------------------------

@pytest.mark.slow
@needs_broker
@pytest.mark.parametrize("name", SHORT)
def test_short_scenario_passes(name, tmp_path):
    tmp = tmp_path / "tmp"   # the rig's /tmp for this run: other suites run the rig on this machine too
    tmp.mkdir()
    # the plain drive goes through the bench code path (SshTarget, `sh -c` as its transport)
    target = ["--target", "sh://"] if name == "stolen-car-pass" else []
    result = hil("run", name, *target, "--junit", str(tmp_path / "junit.xml"), "--jsonl", str(tmp_path / "r.jsonl"),
                 tmpdir=tmp)
    assert result.returncode == 0, result.stdout + result.stderr
    outcome = json.loads((tmp_path / "r.jsonl").read_text().splitlines()[-1])
    assert outcome["status"] == "pass", outcome
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite.get("tests") == "1" and suite.get("failures") == "0"
    assert list(tmp.iterdir()) == [], "the run left temporary data behind"


@pytest.mark.slow
@needs_broker
def test_a_unit_that_misses_its_expectations_fails_the_run(tmp_path):
    """The judge can fail: a hit is demanded on a plate no hotlist holds."""
    scenario = tmp_path / "wrong.toml"
    scenario.write_text('name = "expects a hit nobody asked for"\nlead_in_s = 3.0\ntail_s = 1.0\n'
                        '[[vehicles]]\nplate = "8GHT442"\nenter_s = 0.0\n'
                        '[expect]\nhits = ["8GHT442"]\ndelivery_timeout_s = 20\n')
    result = hil("run", str(scenario), "--junit", str(tmp_path / "junit.xml"), "--keep", str(tmp_path / "kept"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "expected hit on 8GHT442 missing" in result.stdout
    case = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite/testcase")
    assert case.find("failure") is not None
    kept = list((tmp_path / "kept").iterdir())
    assert len(kept) == 1 and (kept[0] / "unit.toml").exists() and (kept[0] / "uplink.jsonl").exists()


# --- scenario files ---------------------------------------------------------------------------------

def test_every_shipped_scenario_is_valid_and_every_fault_kind_has_one():
    loaded = catalogue()
    bad = [f"{p.name}: {s}" for p, s in loaded if isinstance(s, Exception)]
    assert not bad, bad
    kinds = {f.kind for _, s in loaded for f in s.faults}
    from hil.scenario import Fault
    assert kinds == set(Fault.model_fields["kind"].annotation.__args__)
    variants = {f.variant for _, s in loaded for f in s.faults if f.kind == "downlink"}
    assert variants == {"unsigned", "forged", "replayed", "oversize"}
    for _, s in loaded:
        if s.expected_to_fail_until:
            assert s.set == "long", f"{s.name}: a known failure belongs in the long set"


def test_a_typo_in_a_scenario_is_an_error_naming_file_and_line(tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text('name = "typo"\n\n[[vehicles]]\nplate = "ABC123"\nenter_s = 1\n\n[[faults]]\nkind = "gps_unplug"\n'
                    'gps_unplug_afer_s = 3\nexpect = "the unit says the receiver is gone"\n')
    result = hil("run", str(path))
    assert result.returncode == 2
    assert f"{path}:9: faults.0.gps_unplug_afer_s: unknown key" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_scenario_file_is_a_one_line_error():
    result = hil("run", "/nonexistent/scenario.toml")
    assert result.returncode == 2
    assert "/nonexistent/scenario.toml: (file): cannot read" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_target_is_bad_usage():
    result = hil("run", "stolen-car-pass", "--target", "ftp://unit")
    assert result.returncode == 2 and "unknown target" in result.stderr


def test_list_names_every_scenario_with_its_set():
    result = hil("list")
    assert result.returncode == 0
    for path, scenario in catalogue():
        line = next(l for l in result.stdout.splitlines() if l.startswith(path.stem))
        assert scenario.set in line
        assert ("xfail until" in line) == bool(scenario.expected_to_fail_until)


def test_a_plate_in_expectations_must_drive_past(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('name = "ghost"\n[[vehicles]]\nplate = "ABC123"\nenter_s = 0\n[expect]\nhits = ["ZZZ999"]\n')
    with pytest.raises(Exception, match="no vehicle carries"):
        load(path)


# --- inputs -----------------------------------------------------------------------------------------

def test_nmea_epochs_parse_with_the_units_own_parser():
    from firmware.gnss.epoch import parse_bytes

    at = datetime(2026, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    lines = []
    for i in range(3):
        lines += epoch_sentences(at + timedelta(seconds=i), 44.056 + i * 1e-4, -121.313, 11.1, 90.0)
    fixes = parse_bytes(("\r\n".join(lines) + "\r\n").encode())
    assert len(fixes) >= 2
    assert abs(fixes[0].lat - 44.056) < 1e-6 and abs(fixes[0].lon + 121.313) < 1e-6
    assert checksum("GPGSA,A,3") == f"{reduce(lambda a, c: a ^ ord(c), 'GPGSA,A,3', 0):02X}"
    assert epoch_sentences(at, 44.0, -121.0, 0, 0)[0].startswith("$GPRMC,120000.00,A,4400.00000,N,12100.00000,W")


def test_route_position_follows_speed_and_stops_at_the_end():
    route = Route(((44.0, -121.0), (44.0, -120.99)), speed_mps=10.0)
    leg = distance_m(44.0, -121.0, 44.0, -120.99)
    lat, lon, speed, course = route.at(30.0)
    assert distance_m(44.0, -121.0, lat, lon) == pytest.approx(300.0, abs=1.0)
    assert speed == 10.0 and course == pytest.approx(90.0, abs=0.1)
    lat, lon, speed, _ = route.at(leg / 10.0 + 100)
    assert (lat, lon, speed) == (44.0, -120.99, 0.0)


def test_generated_unit_config_is_valid_for_the_unit():
    from types import SimpleNamespace

    from firmware.config import parse_config

    pki = SimpleNamespace(ca="/x/ca.crt", client_cert="/x/c.crt", client_key="/x/c.key")
    text = to_toml(base_config(unit_id="u1", data_dir="/tmp/d", frames_dir="/tmp/f", fps=8.0, gps_port="/tmp/tty",
                               broker_port=1883, pki=pki, public_key="ab" * 32, agency="ag"))
    config = parse_config(text, "generated.toml")
    assert config.cameras[0].uri == "/tmp/f" and config.gps.source == "serial" and config.sync.port == 1883


# --- reports ----------------------------------------------------------------------------------------

def _outcomes():
    return [Outcome("a", "a.toml", "pass", 1.0), Outcome("b", "b.toml", "fail", 2.0, ["plates not read: ['X']"]),
            Outcome("c", "c.toml", "skip", 0.0, notes=["needs root"]),
            Outcome("d", "d.toml", "xfail", 3.0, ["no clock_suspect"], expected_to_fail_until="issue 18 item 1")]


def test_junit_marks_failures_skips_and_known_failures(tmp_path):
    junit(_outcomes(), tmp_path / "j.xml")
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "1", "2")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert "plates not read" in cases["b"].find("failure").get("message")
    assert cases["c"].find("skipped").get("message") == "needs root"
    assert "issue 18 item 1" in cases["d"].find("skipped").get("message")


def test_summary_and_json_lines_say_what_happened():
    lines = summary_lines(_outcomes())
    assert lines[0].startswith("PASS") and lines[1].startswith("FAIL") and "plates not read" in lines[2]
    assert lines[-1].startswith("1 pass, 1 fail, 1 skip, 1 xfail")
    row = json.loads(json_line(_outcomes()[3]))
    assert row["status"] == "xfail" and row["expected_to_fail_until"] == "issue 18 item 1"


# --- soak -------------------------------------------------------------------------------------------

def test_slope_is_per_hour_and_ignores_gaps():
    ts = [0, 60, 120, 180]
    assert slope_per_hour(ts, [100, 101, 102, 103]) == pytest.approx(60.0)
    assert slope_per_hour(ts, [5, None, 5, 5]) == 0.0


def test_soak_fails_on_growth_beyond_the_limit_only_in_the_second_half(tmp_path):
    warm_then_flat = [{"t_s": t, "rss_mb": (100 + t if t < 300 else 400), "fds": 20, "threads": 15} for t in range(0, 600, 5)]
    slopes, failures = growth_failures(warm_then_flat, {"rss_mb": 20, "fds": 5, "threads": 2})
    assert failures == [] and slopes["rss_mb"] == 0
    leaking = [{"t_s": t, "rss_mb": 100 + t / 60, "fds": 20, "threads": 15} for t in range(0, 600, 5)]
    slopes, failures = growth_failures(leaking, {"rss_mb": 20, "fds": 5, "threads": 2})
    assert slopes["rss_mb"] == pytest.approx(60.0) and failures and failures[0].startswith("rss_mb grows")
    written = write_outputs(leaking, tmp_path / "out", slopes, {"rss_mb": 20})
    assert (tmp_path / "out" / "samples.csv").read_text().splitlines()[0].startswith("t_s,rss_mb,fds")
    pngs = [p for p in written if p.suffix == ".png"]
    assert len(pngs) == 11 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


# --- bench mode parts, simulated -----------------------------------------------------------------

def test_gpio_probe_reads_both_gpiomon_formats():
    from hil.bench import GpioProbe, parse_edge

    assert parse_edge("event:  RISING EDGE offset: 22 timestamp: [1700000000.250000000]") == ("rising", 1700000000.25)
    assert parse_edge("1700000001.5 falling gpiochip0 22") == ("falling", 1700000001.5)
    assert parse_edge("gpiomon: waiting") is None
    probe = GpioProbe(["sh", "-c", "printf 'event:  RISING EDGE offset: 17 timestamp: [ 12.5]\\n"
                                   "event: FALLING EDGE offset: 17 timestamp: [ 12.7]\\n'"]).start()
    probe.proc.wait(10)
    probe.stop()
    assert probe.rising() == [12.5]


def test_serial_gps_talks_nmea_into_a_serial_device_the_unit_can_parse():
    import os
    import pty
    import select

    from firmware.gnss.epoch import parse_bytes
    from hil.bench import SerialGps

    unit_side, rig_side = pty.openpty()   # the two ends of a null-modem cable
    gps = SerialGps(Route(((44.0, -121.0), (44.0, -120.9)), 10.0), os.ttyname(rig_side), period_s=0.2).start()
    data = b""
    try:
        while data.count(b"$GPRMC") < 3 and select.select([unit_side], [], [], 5)[0]:
            data += os.read(unit_side, 4096)
    finally:
        gps.close()
        os.close(unit_side)
        os.close(rig_side)
    fixes = [f for f in parse_bytes(data) if f.lat is not None]   # the first epoch may be cut by the read
    assert len(fixes) >= 2 and abs(fixes[-1].lat - 44.0) < 1e-3 and abs(fixes[-1].lon + 121.0) < 0.1


def test_monitor_player_shows_every_frame_at_the_scenario_rate(tmp_path):
    import time

    import cv2
    import numpy as np

    from hil.bench import MonitorPlayer

    for i in range(6):
        cv2.imwrite(str(tmp_path / f"frame_{i:06d}.jpg"), np.full((8, 8, 3), i * 40, np.uint8))
    player = MonitorPlayer(tmp_path, fps=20, window=False).start()
    deadline = time.monotonic() + 10
    while not player.ended() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert player.ended() and player.shown == 6
    assert time.time() - player.started_at >= 5 / 20


@pytest.mark.skipif(__import__("os").geteuid() != 0, reason="mounting a tmpfs needs root")
def test_fill_leaves_no_byte_free_and_unfill_gives_it_back(tmp_path):
    import shutil

    from hil.faults import fill, mount_tmpfs, umount, unfill

    mount_tmpfs(tmp_path, 4)
    try:
        assert fill(tmp_path) > 3 * 2**20
        assert shutil.disk_usage(tmp_path).free == 0
        unfill(tmp_path)
        assert shutil.disk_usage(tmp_path).free > 3 * 2**20
    finally:
        umount(tmp_path)


def test_ssh_target_tunnels_the_broker_and_the_screen(monkeypatch, tmp_path):
    import hil.target as target_module
    from hil.target import SshTarget, make_target

    started = []
    monkeypatch.setattr(target_module.subprocess, "Popen", lambda argv, **kw: started.append(argv))
    unit = make_target("ssh://pi@unit-07:2222")
    assert isinstance(unit, SshTarget) and unit.unit_command() == ["alpr-unit"]
    unit.start("/tmp/alpr-hil-x/unit.toml", {"TZ": "UTC"}, tmp_path / "log", tunnel_port=40001, screen_port=40002)
    argv = started[0]
    assert argv[:3] == ["ssh", "-L", "40002:127.0.0.1:40002"] and argv[3:5] == ["-R", "40001:127.0.0.1:40001"]
    assert argv[-2:-1] == ["pi@unit-07"] and "-p" in argv and "2222" in argv
    assert argv[-1].endswith("exec env TZ=UTC alpr-unit run --config /tmp/alpr-hil-x/unit.toml")
