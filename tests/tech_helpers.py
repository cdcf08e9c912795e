"""Shared pieces for the technician-tool tests: an agency PKI that keeps its CA key, the CLI as a process."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from conftest import REPO
from firmware.sync.testbroker import Pki, _cert


def tech(*args, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "firmware.tech", *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=timeout, **kwargs)


@dataclass
class AgencyPki:
    pki: Pki
    ca_key: Path
    downlink_private: ed25519.Ed25519PrivateKey
    downlink_hex: str


def _pem_key(path: Path, key) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return path


def agency_pki(folder: Path) -> AgencyPki:
    """An agency CA (key kept, to sign units' CSRs), a broker and a collector certificate, a downlink key."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("agency ca", ca_key, None, None, ca=True)
    (folder / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths = {"ca": folder / "ca.crt"}
    for name, server in (("server", True), ("collector", False)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert("localhost" if server else "collector", key, ca.subject, ca_key, ca=False, server=server)
        (folder / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths[f"{name}_cert"], paths[f"{name}_key"] = folder / f"{name}.crt", _pem_key(folder / f"{name}.key", key)
    pki = Pki(ca=paths["ca"], server_cert=paths["server_cert"], server_key=paths["server_key"],
              client_cert=paths["collector_cert"], client_key=paths["collector_key"],
              collector_cert=paths["collector_cert"], collector_key=paths["collector_key"],
              foreign_ca=paths["ca"], foreign_cert=paths["collector_cert"], foreign_key=paths["collector_key"])
    downlink = ed25519.Ed25519PrivateKey.generate()
    raw = downlink.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return AgencyPki(pki, _pem_key(folder / "ca.key", ca_key), downlink, raw.hex())


def bench_template(path: Path, clip: Path, nmea: Path) -> Path:
    """A provisioning template for a unit without camera hardware: recorded footage and route."""
    path.write_text(f'[unit]\nid = "template"\nmin_free_mb = 1\n\n[[cameras]]\nid = "front"\nkind = "folder"\n'
                    f'uri = "{clip}"\nfps = 5\nloop = true\n\n[gps]\nsource = "file"\nfile = "{nmea}"\n\n'
                    '[alerts]\nsinks = ["recording"]\n\n[sync]\nhealth_interval_s = 1\nreconnect_min_s = 0.1\n'
                    'reconnect_max_s = 1.0\n')
    return path
