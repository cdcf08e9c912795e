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


class AptRepo:
    """The agency's signed repository (scripts/apt-repo.sh) and a unit's apt pointed at it, in scratch dirs."""

    def __init__(self, tmp_path):
        self.home, self.repo, self.apt = tmp_path / "gnupg", tmp_path / "repo", tmp_path / "apt"
        self.home.mkdir(mode=0o700, parents=True)
        self.env = {**os.environ, "GNUPGHOME": str(self.home)}
        subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "alpr agency <agency@invalid.example>",
                        "ed25519", "sign", "never"], env=self.env, check=True, capture_output=True)
        listing = subprocess.run(["gpg", "--list-keys", "--with-colons"], env=self.env, check=True,
                                 capture_output=True, text=True).stdout
        self.key = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))
        self.keyring = tmp_path / "agency.gpg"
        self.keyring.write_bytes(subprocess.run(["gpg", "--export", self.key], env=self.env, check=True,
                                                capture_output=True).stdout)
        for folder in ("etc/apt/preferences.d", "var/lib/apt/lists/partial", "var/cache/apt/archives/partial",
                       "var/lib/dpkg", "downloads"):
            (self.apt / folder).mkdir(parents=True, exist_ok=True)
        (self.apt / "var/lib/dpkg/status").touch()
        (self.apt / "sources.list").write_text(f"deb [signed-by={self.keyring}] file:{self.repo} stable main\n")

    def publish(self, *debs):
        done = subprocess.run([REPO / "scripts/apt-repo.sh", self.repo, self.key, *debs], env=self.env,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr

    def apt_get(self, *args):
        a = self.apt
        return subprocess.run(["apt-get", "-q", "-o", f"Dir={a}", "-o", f"Dir::State::status={a}/var/lib/dpkg/status",
                               "-o", f"Dir::Etc::sourcelist={a}/sources.list", "-o", "Dir::Etc::sourceparts=-",
                               "-o", "APT::Architecture=amd64", "-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root",
                               *args],
                              capture_output=True, text=True, cwd=a / "downloads", timeout=300)

    def fetch(self, spec="alpr-unit"):
        """apt-get update + download: the .deb apt chose, verified against the signed index."""
        update = self.apt_get("update")
        assert update.returncode == 0 and "W:" not in update.stdout + update.stderr, update.stdout + update.stderr
        for old in (self.apt / "downloads").iterdir():
            old.unlink()
        got = self.apt_get("download", spec)
        assert got.returncode == 0, got.stderr
        return next((self.apt / "downloads").iterdir())


def repack(deb, tmp_path, version):
    """The same package under a newer version number: a release to update to."""
    tree = tmp_path / f"tree-{version}"
    subprocess.run(["dpkg-deb", "-R", deb, tree], check=True)
    control = tree / "DEBIAN/control"
    control.write_text(control.read_text().replace("Version: 0.1.0", f"Version: {version}"))
    out = tmp_path / f"alpr-unit_{version}_amd64.deb"
    subprocess.run(["fakeroot", "dpkg-deb", "-Zgzip", "-z1", "--build", tree, out], check=True, capture_output=True)
    shutil.rmtree(tree)
    return out


def older_release_database(db) -> int:
    """A database as the release before this one left it: every migration but the newest. Returns that one."""
    from firmware.storage.db import _migrations, _split_sql, connect

    migrations = _migrations()
    db.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(db)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                 " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))")
    for version, name, sql in migrations[:-1]:
        for statement in _split_sql(sql):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (version, name))
    conn.close()
    return migrations[-1][0]


def installed_version(root):
    return subprocess.run(["dpkg-query", f"--root={root}", "-W", "-f=${Version}", "alpr-unit"], capture_output=True,
                          text=True).stdout


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
def test_install_update_rollback_remove_purge_from_a_signed_repository_in_a_scratch_root(tmp_path, deb):
    if not (shutil.which("apt-ftparchive") and shutil.which("gpg")):
        pytest.skip("apt-utils and gpg are needed for the signed repository")
    root = scratch_root(tmp_path / "root")
    repo = AptRepo(tmp_path)
    repo.publish(deb)
    first = dpkg(root, "-i", repo.fetch())
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

    # Provision (bundle), then an update through apt: postinst migrates the database and writes the drop-in.
    agency = agency_pki(tmp_path / "agency")
    bundle = tmp_path / "unit.tar"
    made = tech("provision", "--technician", "T. Tech", "--unit-id", "car-7", "--agency", "durham-pd", "--broker", "mqtts://broker.example",
                "--downlink-key", agency.downlink_hex, "--ca-cert", agency.pki.ca, "--ca-key", agency.ca_key,
                "--broker-ca", agency.pki.ca, "--template", REPO / "device/config/unit.toml", "--out", bundle)
    assert made.returncode == 0, made.stderr
    assert tech("install-bundle", bundle, "--root", root).returncode == 0
    db = root / "var/lib/alpr-unit/alpr.db"
    newest = older_release_database(db)
    repo.publish(repack(deb, tmp_path, "0.1.0+1"))
    newer = repo.fetch()
    assert newer.name == "alpr-unit_0.1.0+1_amd64.deb"                # apt picks the newest signed release
    upgrade = dpkg(root, "-i", newer)
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    assert installed_version(root) == "0.1.0+1"
    assert f"applied now: [{newest}]" in upgrade.stdout
    with sqlite3.connect(db) as conn:
        versions = {v for (v,) in conn.execute("SELECT version FROM schema_migrations")}
    dropin = (root / "etc/systemd/system/alpr-unit.service.d/50-unit.conf").read_text()
    assert "SupplementaryGroups=video render dialout gpio audio" not in dropin
    assert "SupplementaryGroups=video dialout audio" in dropin and "-/dev/gnss0" in dropin.split("BindPaths=")[1]

    # Rollback while the database has a migration the old release does not know (here: one planted from
    # "the future"): configure refuses and the newer firmware stays in place, untouched.
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_from_the_future.sql')")
    marker = venv.resolve() / "still-the-newer-venv"
    marker.touch()
    older = repo.fetch("alpr-unit=0.1.0")
    refused = dpkg(root, "-i", older)
    assert refused.returncode != 0
    assert "[9999]" in refused.stderr and "Refusing to downgrade" in refused.stderr
    assert marker.exists() and sorted((root / "opt/alpr-unit").glob("venv-*")) == [venv.resolve()]
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM schema_migrations WHERE version = 9999")
        assert {v for (v,) in conn.execute("SELECT version FROM schema_migrations")} == versions

    # Same schema: the rollback goes through and the unit runs the release before.
    rollback = dpkg(root, "-i", older)
    assert rollback.returncode == 0, rollback.stderr
    assert installed_version(root) == "0.1.0" and "applied now: none" in rollback.stdout
    assert not marker.exists()

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
    (root / "opt/alpr-unit/venv/bin").mkdir(parents=True)
    for name in ("alpr-unit", "alpr-unit-tech"):                # postinst builds the real ones
        stand_in = root / "opt/alpr-unit/venv/bin" / name
        stand_in.write_text("#!/bin/sh\n")
        stand_in.chmod(0o755)
    result = subprocess.run(["systemd-analyze", "verify", f"--root={root}", *UNITS], capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


@needs_dpkg
def test_a_tampered_or_foreign_signed_repository_is_refused(tmp_path):
    if not (shutil.which("apt-ftparchive") and shutil.which("gpg")):
        pytest.skip("apt-utils and gpg are needed for the signed repository")
    stage = tmp_path / "pkg"
    (stage / "DEBIAN").mkdir(parents=True)
    (stage / "DEBIAN/control").write_text("Package: alpr-unit\nVersion: 0.1.0\nArchitecture: amd64\n"
                                          "Maintainer: t <t@invalid.example>\nDescription: test\n")
    small = tmp_path / "alpr-unit_0.1.0_amd64.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", stage, small], check=True, capture_output=True)
    repo = AptRepo(tmp_path / "a")
    repo.publish(small)
    assert repo.fetch().name == small.name
    packages = repo.repo / "dists/stable/main/binary-amd64/Packages"
    packages.write_text(packages.read_text().replace("Version: 0.1.0", "Version: 9.9.9"))   # index edited, not re-signed
    (repo.repo / "dists/stable/main/binary-amd64/Packages.gz").unlink()
    shutil.rmtree(repo.apt / "var/lib/apt/lists")                    # a unit that fetches the index anew
    (repo.apt / "var/lib/apt/lists/partial").mkdir(parents=True)
    tampered = repo.apt_get("update")
    assert "Hash Sum mismatch" in tampered.stdout + tampered.stderr or "unexpected size" in tampered.stderr
    assert repo.apt_get("download", "alpr-unit=9.9.9").returncode != 0
    other = AptRepo(tmp_path / "b")                       # a repository signed by someone else's key
    other.publish(small)
    (repo.apt / "sources.list").write_text(f"deb [signed-by={repo.keyring}] file:{other.repo} stable main\n")
    foreign = repo.apt_get("update")
    assert "NO_PUBKEY" in foreign.stdout + foreign.stderr or "not signed" in foreign.stdout + foreign.stderr
