"""Technician scripts: provisioning into an image root, and the support bundle."""

import subprocess
import sys
import tarfile

from conftest import REPO


def run(*args, **env):
    return subprocess.run(list(args), capture_output=True, text=True, cwd=REPO, timeout=120,
                          env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "PYTHON": sys.executable, **env})


def test_provision_into_an_image_root_installs_every_asset(tmp_path):
    root = tmp_path / "rootfs"
    result = run("scripts/provision.sh", "--config", "device/config/unit.toml", "--root", str(root), "--no-venv")
    assert result.returncode == 0, result.stderr
    for path in ("etc/alpr-unit/unit.toml", "etc/udev/rules.d/99-alpr-unit.rules",
                 "etc/systemd/system/alpr-unit.service", "etc/chrony/conf.d/alpr-gnss.conf"):
        assert (root / path).is_file(), path
    assert (root / "etc/alpr-unit/unit.toml").read_text() == (REPO / "device/config/unit.toml").read_text()
    dropin = (root / "etc/systemd/system/alpr-unit.service.d/50-unit.conf").read_text()
    assert "-/dev/gnss0" in dropin and "SupplementaryGroups" not in dropin    # an image root has no groups yet


def test_provision_refuses_a_bad_config_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[unit]\nid = \"car 1\"\n")
    root = tmp_path / "rootfs"
    result = run("scripts/provision.sh", "--config", str(bad), "--root", str(root), "--no-venv")
    assert result.returncode != 0
    assert f"{bad}:2: unit.id" in result.stderr
    assert not root.exists()


def test_diagnose_bundle_has_selftest_and_redacted_config(tmp_path):
    config = tmp_path / "unit.toml"
    config.write_text(f'[unit]\nid = "diag"\ndata_dir = "{tmp_path / "data"}"\n[sync]\nusername = "unit"\npassword = "hunter2"\n')
    wrapper = tmp_path / "alpr-unit"   # the firmware of this checkout, whatever venv runs the tests
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{REPO}" exec "{sys.executable}" -m firmware "$@"\n')
    wrapper.chmod(0o755)
    result = run("scripts/diagnose.sh", "--config", str(config), "--out", str(tmp_path), ALPR=str(wrapper))
    assert result.returncode == 0, result.stderr
    bundle = result.stdout.strip().splitlines()[-1]
    with tarfile.open(bundle) as tar:
        names = {m.name.lstrip("./") for m in tar.getmembers()}
        assert {"system.txt", "selftest.jsonl", "config.json", "sync.json"} <= names
        config_json = tar.extractfile("./config.json").read().decode()
    assert "hunter2" not in config_json and "<redacted>" in config_json
