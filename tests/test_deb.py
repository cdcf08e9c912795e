"""The Debian package, built for amd64 and installed with dpkg into a scratch root (dpkg --root with
chrootless maintainer scripts: DPKG_ROOT). Never touches this machine's own users or /etc."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile

import pytest

from conftest import REPO
from tech_helpers import agency_pki, tech

needs_dpkg = pytest.mark.skipif(not (shutil.which("dpkg") and shutil.which("fakeroot") and shutil.which("useradd")),
                                reason="dpkg, fakeroot and useradd are needed")
UNITS = ("alpr-unit.service", "alpr-unit-kiosk.service", "alpr-unit-audit-verify.service",
         "alpr-unit-audit-verify.timer")


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    if not (shutil.which("dpkg-deb") and shutil.which("fakeroot")):
        pytest.skip("dpkg-deb and fakeroot are needed")
    out = tmp_path_factory.mktemp("deb")
    # gzip: the wheels are zip files already; xz (the default) costs a minute and saves little.
    result = subprocess.run(["scripts/build-deb.sh", "amd64", str(out)], cwd=REPO, capture_output=True, text=True,
                            timeout=600, env={**os.environ, "DEB_COMPRESS": "gzip"})
    if result.returncode != 0 and "Could not find a version" in result.stderr + result.stdout:
        pytest.skip("no package index reachable to download the wheels")
    assert result.returncode == 0, result.stderr[-3000:]
    return out / result.stdout.strip().splitlines()[-1].rsplit("/", 1)[-1]


def scratch_root(path):
    """A root with its own account files (a plain Debian: video, dialout, audio; no gpio) and dpkg database."""
    for folder in ("etc", "var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"):
        (path / folder).mkdir(parents=True, exist_ok=True)
    for name in ("status", "available"):
        (path / "var/lib/dpkg" / name).touch()
    groups = {"root": 0, "video": 44, "dialout": 20, "audio": 29}
    (path / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (path / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    (path / "etc/group").write_text("".join(f"{g}:x:{gid}:\n" for g, gid in groups.items()))
    (path / "etc/gshadow").write_text("".join(f"{g}:*::\n" for g in groups))
    return path


def dpkg(root, *args):
    return subprocess.run(["dpkg", f"--root={root}", "--force-script-chrootless", "--force-depends",
                           "--log=/dev/null", *map(str, args)], capture_output=True, text=True, timeout=600)


def members(deb) -> dict[str, str]:
    listing = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True).stdout
    return {line.split()[-1].lstrip("."): line.split()[0] for line in listing.splitlines() if " -> " not in line}


def test_package_carries_firmware_wheels_for_its_arch_units_and_device_files(deb):
    files = members(deb)
    wheels = [f for f in files if f.startswith("/opt/alpr-unit/wheels/") and f.endswith(".whl")]
    assert any("/alpr_unit-" in w for w in wheels)
    assert any("/ai_edge_litert-" in w and "x86_64" in w for w in wheels)
    assert not any("aarch64" in w for w in wheels)
    binary = [w for w in wheels if "none-any" not in w]
    assert binary and all("cp311" in w or "abi3" in w for w in binary)
    for path in [*(f"/lib/systemd/system/{u}" for u in UNITS), "/lib/udev/rules.d/99-alpr-unit.rules",
                 "/etc/chrony/conf.d/alpr-gnss.conf", "/lib/systemd/system/chrony.service.d/alpr-gnss.conf",
                 "/usr/share/alpr-unit/config/unit.toml", "/usr/share/alpr-unit/boot/config.txt.fragment",
                 "/usr/share/doc/alpr-unit/copyright"]:
        assert path in files, path
    control = subprocess.run(["dpkg-deb", "--field", str(deb)], capture_output=True, text=True, check=True).stdout
    assert "Architecture: amd64" in control and "chrony" in control and "python3-venv" in control
    assert "Recommends: chromium" in control and "python3-lgpio" in control


def test_lintian_is_clean_with_justified_overrides(deb):
    if not shutil.which("lintian"):
        pytest.skip("lintian not installed")
    result = subprocess.run(["lintian", "--pedantic", "--fail-on", "error,warning,info,pedantic", str(deb)],
                            capture_output=True, text=True, timeout=300)
    hints = [line for line in result.stdout.splitlines() if line[:2] in ("E:", "W:", "I:", "P:")]
    assert result.returncode == 0 and hints == [], result.stdout + result.stderr
    overrides = (REPO / "packaging/deb/lintian-overrides").read_text().split("\n\n")
    assert all(block.lstrip().startswith("#") for block in overrides if block.strip())   # each one says why


@needs_dpkg
def test_install_upgrade_downgrade_remove_purge_in_a_scratch_root(tmp_path, deb):
    root = scratch_root(tmp_path / "root")
    first = dpkg(root, "-i", deb)
    assert first.returncode == 0, first.stdout + first.stderr
    passwd = (root / "etc/passwd").read_text()
    assert "\nalpr:" in passwd and "\nalpr-kiosk:" in passwd and ":/usr/sbin/nologin" in passwd
    group = {line.split(":")[0]: line.split(":")[3] for line in (root / "etc/group").read_text().splitlines()}
    assert set(group["video"].split(",")) == {"alpr", "alpr-kiosk"} and group["dialout"] == "alpr"
    assert "gpio" not in group                                       # created only where Pi OS has it
    for folder in ("var/lib/alpr-unit", "etc/alpr-unit", "var/log/alpr-unit"):
        assert oct((root / folder).stat().st_mode & 0o777) == "0o750", folder
    venv = root / "opt/alpr-unit/venv"
    assert (venv / "bin/alpr-unit").exists(), first.stdout + first.stderr
    version = subprocess.run([venv / "bin/alpr-unit", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip() == "0.1.0"
    assert (venv / "bin/alpr-unit-tech").exists()
    assert (root / "etc/systemd/system/multi-user.target.wants/alpr-unit.service").is_symlink()
    assert (root / "etc/systemd/system/timers.target.wants/alpr-unit-audit-verify.timer").is_symlink()

    # Provision (bundle), then upgrade: postinst migrates the database and writes the drop-in.
    agency = agency_pki(tmp_path / "agency")
    bundle = tmp_path / "unit.tar"
    made = tech("provision", "--unit-id", "car-7", "--agency", "durham-pd", "--broker", "mqtts://broker.example",
                "--downlink-key", agency.downlink_hex, "--ca-cert", agency.pki.ca, "--ca-key", agency.ca_key,
                "--broker-ca", agency.pki.ca, "--template", REPO / "device/config/unit.toml", "--out", bundle)
    assert made.returncode == 0, made.stderr
    assert tech("install-bundle", bundle, "--root", root).returncode == 0
    db = root / "var/lib/alpr-unit/alpr.db"
    upgrade = dpkg(root, "-i", deb)
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    assert "applied now: [1, 2, 3" in upgrade.stdout
    with sqlite3.connect(db) as conn:
        versions = {v for (v,) in conn.execute("SELECT version FROM schema_migrations")}
    dropin = (root / "etc/systemd/system/alpr-unit.service.d/50-unit.conf").read_text()
    assert "SupplementaryGroups=video render dialout gpio audio" not in dropin
    assert "SupplementaryGroups=video dialout audio" in dropin and "-/dev/gnss0" in dropin.split("BindPaths=")[1]

    # A database written by newer firmware: configure refuses, the installed firmware stays.
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_from_the_future.sql')")
    marker = venv.resolve() / "still-the-old-venv"
    marker.touch()
    downgrade = dpkg(root, "-i", deb)
    assert downgrade.returncode != 0
    assert "[9999]" in downgrade.stderr and "Refusing to downgrade" in downgrade.stderr
    assert marker.exists() and sorted((root / "opt/alpr-unit").glob("venv-*")) == [venv.resolve()]
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM schema_migrations WHERE version = 9999")
        assert {v for (v,) in conn.execute("SELECT version FROM schema_migrations")} == versions
    assert dpkg(root, "--configure", "alpr-unit").returncode == 0

    # remove keeps the evidence, the keys and the config; purge deletes them and says so first
    (root / "var/lib/alpr-unit/images").mkdir()
    (root / "var/lib/alpr-unit/images/read.jpg").write_bytes(b"\xff\xd8jpeg")
    removed = dpkg(root, "--remove", "alpr-unit")
    assert removed.returncode == 0, removed.stderr
    assert db.exists() and (root / "etc/alpr-unit/tls/unit.key").exists()
    assert not venv.exists() and not list((root / "opt/alpr-unit").glob("venv-*"))
    purged = dpkg(root, "--purge", "alpr-unit")
    assert purged.returncode == 0, purged.stderr
    assert not (root / "var/lib/alpr-unit").exists() and not (root / "etc/alpr-unit").exists()
    record = json.loads((root / "var/log/alpr-unit-purge.log").read_text().splitlines()[-1])
    assert record["event"] == "package_purge" and record["unit"] == "car-7" and record["files"] >= 2
    assert len(record["db_sha256"]) == 64


@needs_dpkg
def test_installed_units_verify_in_the_scratch_root(tmp_path, deb):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    root = scratch_root(tmp_path / "root")
    shutil.copytree("/lib/systemd/system", root / "lib/systemd/system", symlinks=True)
    for exe in ("usr/bin/cage", "usr/bin/chromium"):      # stand-ins: Recommends, not installed here
        (root / exe).parent.mkdir(parents=True, exist_ok=True)
        (root / exe).write_text("#!/bin/sh\n")
        (root / exe).chmod(0o755)
    assert dpkg(root, "--unpack", deb).returncode == 0
    stand_in = root / "opt/alpr-unit/venv/bin/alpr-unit"     # postinst builds the real one
    stand_in.parent.mkdir(parents=True)
    stand_in.write_text("#!/bin/sh\n")
    stand_in.chmod(0o755)
    result = subprocess.run(["systemd-analyze", "verify", f"--root={root}", *UNITS], capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
