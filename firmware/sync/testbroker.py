"""A throwaway local mosquitto and a de-duplicating subscriber, for `alpr-unit bench sync` and the tests.

Never the system service: each Mosquitto here runs from its own directory on a free loopback port,
with TLS certificates generated on the spot (a CA, the broker, a client; and a second, foreign CA).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from firmware.sync.messages import message_id


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
                                              if os.path.exists(p)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_key(path: Path, key) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _cert(subject: str, key, issuer_name, issuer_key, *, ca: bool, server: bool = False) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                                        critical=True)
    elif server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    collector_cert: Path
    collector_key: Path
    foreign_ca: Path
    foreign_cert: Path
    foreign_key: Path


def make_pki(folder: Path, unit_id: str = "unit-0001") -> Pki:
    """A CA with broker, unit and collector certificates, plus a foreign CA with a look-alike unit cert."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}

    def issue(prefix: str, cn: str, ca_cert, ca_key, server=False):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(cn, key, ca_cert.subject, ca_key, ca=False, server=server)
        (folder / f"{prefix}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(folder / f"{prefix}.key", key)
        paths[f"{prefix}_cert"], paths[f"{prefix}_key"] = folder / f"{prefix}.crt", folder / f"{prefix}.key"

    for ca_name in ("ca", "foreign_ca"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(f"alpr test {ca_name}", key, None, None, ca=True)
        (folder / f"{ca_name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths[ca_name] = folder / f"{ca_name}.crt"
        paths[ca_name + "_obj"] = (cert, key)
    ca_cert, ca_key = paths.pop("ca_obj")
    foreign_cert, foreign_key = paths.pop("foreign_ca_obj")
    issue("server", "localhost", ca_cert, ca_key, server=True)
    issue("client", unit_id, ca_cert, ca_key)
    issue("collector", "collector", ca_cert, ca_key)
    issue("foreign", unit_id, foreign_cert, foreign_key)
    return Pki(**paths)


# docs/mqtt.md "Broker requirements": what the unit's no-loss guarantee rests on. `on_changes` saves
# the persistence file after every change (a kill -9 loses nothing acknowledged; bench sync 90-160
# msg/s instead of ~2,000 here); `interval` (the default here) within a second of a change (a kill -9
# loses at most the last second); `off` only at a clean stop (a kill -9 loses everything since).
AUTOSAVE = {"on_changes": ["autosave_on_changes true", "autosave_interval 1"],
            "interval": ["autosave_on_changes false", "autosave_interval 1"],
            "off": ["autosave_interval 0"]}


class Mosquitto:
    """One mosquitto process on 127.0.0.1:`port`; restartable with its persistence kept, configured as
    docs/mqtt.md requires of the agency's broker unless `autosave` says otherwise."""

    def __init__(self, folder: Path, pki: Pki | None = None, port: int | None = None, persistence: bool = True,
                 max_inflight: int = 100, extra: str = "", require_certificate: bool = True,
                 passwords: dict[str, str] | None = None, acl: str | None = None, autosave: str = "interval"):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.pki = pki
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        lines = [f"listener {self.port} 127.0.0.1", f"allow_anonymous {'false' if passwords else 'true'}",
                 "user root",
                 f"persistence {'true' if persistence else 'false'}", f"persistence_location {self.folder}/",
                 *AUTOSAVE[autosave], "max_queued_messages 0", "max_queued_bytes 0",
                 f"max_inflight_messages {max_inflight}", "message_size_limit 0",
                 f"log_dest file {self.folder}/mosquitto.log", "log_type error", "log_type warning",
                 "log_type notice", "log_type information"]
        if pki is not None:
            lines += [f"cafile {pki.ca}", f"certfile {pki.server_cert}", f"keyfile {pki.server_key}"]
            if require_certificate:
                lines += ["require_certificate true", "use_identity_as_username true"]
        if passwords:
            pw_file = self.folder / "passwords"
            pw_file.write_text("")
            for user, password in passwords.items():
                subprocess.run([shutil.which("mosquitto_passwd") or "mosquitto_passwd", "-b", str(pw_file), user,
                                password], check=True, capture_output=True)
            lines.append(f"password_file {pw_file}")
        if acl is not None:
            (self.folder / "acl").write_text(acl)
            lines.append(f"acl_file {self.folder / 'acl'}")
        self.conf = self.folder / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n" + extra)

    def start(self, timeout: float = 10) -> "Mosquitto":
        binary = mosquitto_binary()
        if binary is None:
            raise RuntimeError("mosquitto is not installed (apt-get install mosquitto; see .ci/install-mosquitto.sh)")
        self.proc = subprocess.Popen([binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port}: {self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
        """SIGTERM: mosquitto saves its persistence file (queued messages, sessions) and exits."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, down_s: float = 0.0, sig: int = signal.SIGTERM) -> None:
        self.stop(sig)
        time.sleep(down_s)
        self.start()

    def log_tail(self, n: int = 4000) -> str:
        try:
            return (self.folder / "mosquitto.log").read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def __enter__(self) -> "Mosquitto":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Collector:
    """The agency side: a persistent-session QoS 1 subscriber that de-duplicates on message id."""

    def __init__(self, port: int, pki: Pki | None, topic: str = "alpr/v1/#", client_id: str = "collector",
                 username: str | None = None, password: str | None = None, client_cert: bool = True):
        self.ids: dict[str, set[str]] = {}
        self.received = 0
        self.bytes = 0
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.last: dict[str, bytes] = {}
        self.order: list[tuple[str, str]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if pki is not None:
            self.client.tls_set(ca_certs=str(pki.ca), certfile=str(pki.collector_cert) if client_cert else None,
                                keyfile=str(pki.collector_key) if client_cert else None)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(0.05, 0.5)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        # start() returns only once the broker has the subscription: what a unit publishes before then
        # would otherwise never reach the collector, and a test waiting for it would time out at random
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda c, u, mid, codes, p: self.subscribed.set()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self._connect_args = (port, props)

    def start(self, timeout: float = 10.0) -> "Collector":
        port, props = self._connect_args
        self.client.connect("127.0.0.1", port, 30, clean_start=False, properties=props)
        self.client.loop_start()
        if not self.subscribed.wait(timeout):
            self.stop()
            raise TimeoutError(f"collector not subscribed within {timeout:.0f} s (broker on port {port})")
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_message(self, client, userdata, message) -> None:
        kind = message.topic.rsplit("/", 1)[-1]
        payload = bytes(message.payload)
        try:
            mid = message_id(payload, kind)
        except (ValueError, KeyError):
            mid = f"?{self.received}"
        with self.changed:
            self.received += 1
            self.bytes += len(payload)
            self.ids.setdefault(kind, set()).add(mid)
            self.last[kind] = payload
            self.order.append((kind, mid))
            self.changed.notify_all()

    def unique(self, kind: str | None = None) -> int:
        with self.lock:
            if kind is not None:
                return len(self.ids.get(kind, ()))
            return sum(len(v) for k, v in self.ids.items() if k not in ("status", "health"))

    def wait_for(self, predicate, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.changed.wait(min(remaining, 0.5))
            return True
