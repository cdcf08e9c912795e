"""The units as shipped: each scores "OK" (<= 2.0) under `systemd-analyze security --offline`, passes
`systemd-analyze verify` in a root that has their executables, and the drop-in planner asks only for
groups and device nodes that this unit's config needs and that exist."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import REPO
from firmware.config import UnitConfig
from firmware.tech.units import plan_dropin

UNITS = sorted(p.name for p in (REPO / "systemd").iterdir() if p.suffix in (".service", ".timer"))
analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")


def unit_root(tmp_path, dropin: str | None = None):
    """A root with the system's own units, ours, and stand-ins for the executables ours name."""
    root = tmp_path / "root"
    shutil.copytree("/lib/systemd/system", root / "lib/systemd/system", symlinks=True)
    for unit in UNITS:
        shutil.copy(REPO / "systemd" / unit, root / "lib/systemd/system" / unit)
    for exe in ("opt/alpr-unit/venv/bin/alpr-unit", "opt/alpr-unit/venv/bin/alpr-unit-tech", "usr/bin/cage",
                "usr/bin/chromium"):
        (root / exe).parent.mkdir(parents=True, exist_ok=True)
        (root / exe).write_text("#!/bin/sh\n")
        (root / exe).chmod(0o755)
    if dropin is not None:
        target = root / "etc/systemd/system/alpr-unit.service.d/50-unit.conf"
        target.parent.mkdir(parents=True)
        target.write_text(dropin)
    return root


@analyze
@pytest.mark.parametrize("unit", [u for u in UNITS if u.endswith(".service")])
def test_each_service_scores_ok_offline(tmp_path, unit):
    root = unit_root(tmp_path)
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", f"--root={root}", "--threshold=20",
                             "--no-pager", unit], capture_output=True, text=True, timeout=60)
    last = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 0, last
    score = float(last.split("level for")[1].split(":")[1].split()[0])
    assert score <= 2.0, last


@analyze
def test_units_and_a_generated_dropin_verify_cleanly(tmp_path):
    config = UnitConfig.model_validate({
        "unit": {"data_dir": "/srv/alpr"}, "cameras": [{"id": "front", "kind": "picamera2", "uri": "0"}],
        "gps": {"source": "serial", "port": "/dev/gnss0"}, "alerts": {"sinks": ["gpio", "sound"]}})
    dropin = plan_dropin(config, {"video", "dialout", "audio"}, ["/dev/video0", "/dev/media0", "/dev/gpiochip0"])
    root = unit_root(tmp_path, dropin)
    result = subprocess.run(["systemd-analyze", "verify", f"--root={root}", *UNITS], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


def test_a_hard_gpio_group_is_gone_from_the_shipped_unit():
    text = (REPO / "systemd/alpr-unit.service").read_text()
    assert "SupplementaryGroups" not in text and "UMask=0027" in text and "PrivateDevices=true" in text


def config_for(**sections):
    return UnitConfig.model_validate(sections)


def test_dropin_asks_only_for_existing_groups_the_config_needs():
    config = config_for(cameras=[{"id": "f", "kind": "picamera2", "uri": "0"}], gps={"source": "serial"},
                        alerts={"sinks": ["gpio", "sound"]})
    plain_debian = {"root", "video", "dialout", "audio"}          # no gpio, no render
    text = plan_dropin(config, plain_debian, [])
    assert "SupplementaryGroups=video dialout audio\n" in text and "gpio" not in text.split("BindPaths")[0]
    pi_os = plain_debian | {"gpio", "render"}
    assert "SupplementaryGroups=video render dialout gpio audio\n" in plan_dropin(config, pi_os, [])
    bench = config_for(cameras=[{"id": "f", "kind": "folder", "uri": "/srv/f"}], gps={"source": "file", "file": "/x"})
    assert "SupplementaryGroups" not in plan_dropin(bench, pi_os, []) and "BindPaths" not in plan_dropin(bench, pi_os, [])


def test_dropin_binds_configured_nodes_even_when_absent_and_moves_the_data_path():
    config = config_for(unit={"data_dir": "/srv/alpr"}, cameras=[{"id": "f", "kind": "opencv", "uri": "2"}],
                        gps={"source": "serial", "port": "/dev/gnss0"})
    text = plan_dropin(config, {"video", "dialout"}, ["/dev/video2"])
    assert "ReadWritePaths=/srv/alpr\n" in text
    assert "BindPaths=-/dev/gnss0 -/dev/video2\n" in text          # '-': a missing node does not stop the start
    default = config_for(gps={"source": "none"})
    assert "ReadWritePaths" not in plan_dropin(default, set(), [])
