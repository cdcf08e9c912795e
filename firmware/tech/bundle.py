"""The provisioning bundle: a tar the unit installs into /etc/alpr-unit, checked before anything is written.

Layout: manifest.json (format, unit, agency, sha256 of every file) and etc/alpr-unit/{unit.toml,
tls/unit.key, tls/unit.csr, tls/unit.pem (once signed), tls/ca.pem}. `read_bundle` refuses a bundle
whose files do not match its manifest or whose config the firmware would refuse; `install_bundle`
writes it under a root with the key readable only by root and group alpr.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from pathlib import Path

from firmware.tech.cli import EXIT_FAILED, TechError

FORMAT = "alpr-unit-bundle/1"
CONFIG = "etc/alpr-unit/unit.toml"
SECRET = {"etc/alpr-unit/tls/unit.key"}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_bundle(out: Path, files: dict[str, bytes], meta: dict) -> None:
    manifest = dict(meta, format=FORMAT, files={name: sha256(data) for name, data in sorted(files.items())})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, "w") as tar:
        for name, data in [("manifest.json", json.dumps(manifest, indent=2).encode()), *sorted(files.items())]:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o600 if name in SECRET else 0o644
            tar.addfile(info, io.BytesIO(data))
    os.chmod(tmp, 0o600)          # holds the unit's private key
    os.replace(tmp, out)


def read_bundle(path: Path) -> tuple[dict, dict[str, bytes]]:
    """(manifest, files) of a bundle that is whole and whose config validates; TechError otherwise."""
    try:
        with tarfile.open(path) as tar:
            members = {m.name: m for m in tar.getmembers()}
            if "manifest.json" not in members:
                raise TechError(f"{path}: not a provisioning bundle (no manifest.json)")
            manifest = json.loads(tar.extractfile(members["manifest.json"]).read())
            files = {}
            for name in manifest.get("files", {}):
                member = members.get(name)
                if member is None or not member.isfile() or name.startswith("/") or ".." in Path(name).parts:
                    raise TechError(f"{path}: {name} missing or not a plain file")
                files[name] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, json.JSONDecodeError) as exc:
        raise TechError(f"{path}: cannot read the bundle: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise TechError(f"{path}: format {manifest.get('format')!r}, expected {FORMAT}")
    for name, digest in manifest["files"].items():
        if sha256(files[name]) != digest:
            raise TechError(f"{path}: {name} does not match its checksum - the bundle is damaged", EXIT_FAILED)
    if CONFIG not in files:
        raise TechError(f"{path}: no {CONFIG}")
    check_config(files[CONFIG], f"{path}:{CONFIG}")
    return manifest, files


def check_config(text: bytes, label: str) -> None:
    from firmware.config import ConfigError, load_config

    with tempfile.TemporaryDirectory() as tmp:
        candidate = Path(tmp) / "unit.toml"
        candidate.write_bytes(text)
        try:
            load_config(candidate)
        except ConfigError as exc:
            raise TechError("\n".join(str(p).replace(str(candidate), label) for p in exc.problems)) from exc


def install_bundle(path: Path, root: Path) -> dict:
    """Write the bundle's files under root; the key 0640 root:alpr, directories 0750 root:alpr."""
    import grp

    manifest, files = read_bundle(path)
    files = dict(files)
    files["etc/alpr-unit/provisioning.json"] = json.dumps(
        {k: v for k, v in manifest.items() if k != "files"}, indent=2).encode()   # who provisioned, when
    gid = None
    if root == Path("/"):
        try:
            gid = grp.getgrnam("alpr").gr_gid
        except KeyError as exc:
            raise TechError("no alpr group on this system - install the alpr-unit package first") from exc
    for name, data in sorted(files.items()):
        target = root / name
        for folder in [root / "etc/alpr-unit", *[p for p in reversed(target.parents) if p.is_relative_to(root / "etc/alpr-unit/")]]:
            if folder.exists():
                continue
            folder.parent.mkdir(parents=True, exist_ok=True)
            folder.mkdir(mode=0o750)
            os.chmod(folder, 0o750)
            if gid is not None:
                os.chown(folder, 0, gid)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".new")
        tmp.write_bytes(data)
        os.chmod(tmp, 0o640)
        if gid is not None:
            os.chown(tmp, 0, gid)
        os.replace(tmp, target)
    return manifest
