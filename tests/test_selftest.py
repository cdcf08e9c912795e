import json
import subprocess

from conftest import alpr_unit_cmd
from firmware.demo import asset, render_clip


def config_text(data_dir, camera_uri, gps_file):
    return f"""
[unit]
id = "selftest-unit"
data_dir = "{data_dir}"
min_free_mb = 1

[[cameras]]
id = "front"
kind = "folder"
uri = "{camera_uri}"

[gps]
source = "file"
file = "{gps_file}"
"""


def run_selftest(tmp_path, camera_uri, gps_file):
    config = tmp_path / "unit.toml"
    config.write_text(config_text(tmp_path / "data", camera_uri, gps_file))
    subprocess.run([*alpr_unit_cmd(), "provision", "--config", str(config), "--user", "tech.tim"], check=True,
                   capture_output=True, timeout=60)   # as scripts/provision.sh does before the selftest
    result = subprocess.run([*alpr_unit_cmd(), "selftest", "--config", str(config), "--json", "--gps-timeout", "5"],
                            capture_output=True, text=True, timeout=120)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return result.returncode, {c["check"]: c for c in lines if "check" in c}, lines[-1]


def test_selftest_passes_on_a_working_unit(tmp_path):
    render_clip(tmp_path / "clip")
    code, checks, summary = run_selftest(tmp_path, tmp_path / "clip", asset("demo-route.nmea"))
    assert code == 0, checks
    assert set(checks) == {"camera:front", "model", "gps", "database", "disk", "alert:log", "clock"}
    assert summary == {"ok": True, "failed": []}


def test_selftest_names_the_broken_parts(tmp_path):
    code, checks, summary = run_selftest(tmp_path, tmp_path / "no-camera-here", tmp_path / "no-gps.nmea")
    assert code == 1
    assert not checks["camera:front"]["ok"] and "no frame" in checks["camera:front"]["detail"]
    assert not checks["gps"]["ok"] and "no fix" in checks["gps"]["detail"]
    assert checks["database"]["ok"] and checks["model"]["ok"]
    assert set(summary["failed"]) == {"camera:front", "gps"}
