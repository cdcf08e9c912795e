"""`alpr-unit-tech provision` and `install-bundle`: a unit's identity, keys and first config, as one bundle.

provision (on the technician's PC) checks every input before writing anything: unit id, agency,
broker URL, broker CA, the agency's downlink public key, the config template. It makes the unit's
Ed25519 key and an X.509 certificate signing request (CN = unit id, O = agency); with the agency CA's
certificate and key it signs the request too (mutual TLS to the broker), otherwise the CSR is written
beside the bundle for the agency to sign and `add-cert` puts the certificate in later.
install-bundle (on the unit, or into an image root) installs it where the daemon reads it.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

from firmware.tech.bundle import CONFIG, check_config, install_bundle, read_bundle, write_bundle
from firmware.tech.cli import EXIT_OK, TechError
from firmware.tech.toml_write import dumps

ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
TLS_DIR = "/etc/alpr-unit/tls"
DEFAULT_TEMPLATE = Path("/usr/share/alpr-unit/config/unit.toml")
CERT_DAYS = 3 * 365


def register(sub) -> None:
    p = sub.add_parser("provision", help="make a unit's key, CSR, certificate and config as a bundle (technician's PC)")
    p.add_argument("--unit-id", required=True, help="fleet-unique unit id, e.g. car-1042 (letters, digits, . _ -)")
    p.add_argument("--agency", required=True, help="agency id used in MQTT topics, e.g. durham-pd")
    p.add_argument("--broker", required=True, help="MQTT broker: mqtts://host[:port] (TLS) or mqtt://host[:port]")
    p.add_argument("--broker-ca", type=Path, help="PEM CA certificate(s) that sign the broker's certificate")
    p.add_argument("--downlink-key", required=True,
                   help="the agency's Ed25519 downlink public key: 64 hex characters or a PEM file")
    p.add_argument("--template", type=Path, help=f"config to start from (default {DEFAULT_TEMPLATE} or built-in)")
    p.add_argument("--ca-cert", type=Path, help="agency CA certificate to sign the unit's certificate with")
    p.add_argument("--ca-key", type=Path, help="agency CA private key (PEM) that goes with --ca-cert")
    p.add_argument("--technician", required=True,
                   help="who provisions the unit: recorded in the bundle and, at first boot, in the unit's audit log")
    p.add_argument("--out", type=Path, required=True, help="bundle to write, e.g. car-1042.tar")
    p.add_argument("--force", action="store_true", help="overwrite an existing bundle")
    p.set_defaults(func=_provision)
    p = sub.add_parser("add-cert", help="put the agency-signed certificate for the unit's CSR into its bundle")
    p.add_argument("--bundle", type=Path, required=True, help="bundle made by provision")
    p.add_argument("--cert", type=Path, required=True, help="PEM certificate the agency issued for the CSR")
    p.set_defaults(func=_add_cert)
    p = sub.add_parser("install-bundle", help="install a provisioning bundle into /etc/alpr-unit (on the unit)")
    p.add_argument("bundle", type=Path, help="bundle made by provision")
    p.add_argument("--root", type=Path, default=Path("/"), help="system root (default /; an image root when building)")
    p.set_defaults(func=_install)


def parse_broker(url: str) -> tuple[str, int, bool]:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise TechError(f"--broker {url!r}: expected mqtts://host[:port] or mqtt://host[:port]")
    try:
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    except ValueError as exc:
        raise TechError(f"--broker {url!r}: bad port") from exc
    if parts.path not in ("", "/") or parts.query or parts.username:
        raise TechError(f"--broker {url!r}: no path, query or credentials allowed, only scheme, host and port")
    return parts.hostname, port, parts.scheme == "mqtts"


def read_pem_certs(path: Path, what: str) -> list:
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as exc:
        raise TechError(f"{what} {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise TechError(f"{what} {path}: not a PEM X.509 certificate") from exc
    return certs


def downlink_key_hex(value: str) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    text = value.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
        return text.lower()
    path = Path(text)
    if not path.is_file():
        raise TechError(f"--downlink-key {value!r}: neither 64 hex characters nor a readable PEM file")
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except ValueError as exc:
        raise TechError(f"--downlink-key {path}: not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise TechError(f"--downlink-key {path}: not an Ed25519 key (the agency signs downlink with Ed25519)")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def load_ca(cert_path: Path, key_path: Path):
    from cryptography.hazmat.primitives import serialization

    cert = read_pem_certs(cert_path, "--ca-cert")[0]
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except OSError as exc:
        raise TechError(f"--ca-key {key_path}: {exc.strerror}") from exc
    except (ValueError, TypeError) as exc:
        raise TechError(f"--ca-key {key_path}: not an unencrypted PEM private key") from exc
    if key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != \
            cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        raise TechError(f"--ca-key {key_path} does not belong to --ca-cert {cert_path}")
    return cert, key


def template_config(path: Path | None) -> dict:
    if path is None:
        path = DEFAULT_TEMPLATE if DEFAULT_TEMPLATE.is_file() else None
    if path is None:
        return {}
    try:
        return tomllib.loads(path.read_text())
    except OSError as exc:
        raise TechError(f"--template {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TechError(f"--template {path}: not valid TOML: {exc}") from exc


def make_config(base: dict, unit_id: str, agency: str, host: str, port: int, tls: bool, ca: bool,
                downlink_hex: str) -> dict:
    """The unit's config: the template with identity, broker and keys filled in (a pure function)."""
    config = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    config.setdefault("unit", {})["id"] = unit_id
    sync = {k: v for k, v in config.get("sync", {}).items()
            if k not in ("username", "password", "ca_file", "cert_file", "key_file")}
    sync.update(host=host, port=port, agency=agency, tls=tls, downlink_public_key=downlink_hex)
    if tls:
        sync.update(cert_file=f"{TLS_DIR}/unit.pem", key_file=f"{TLS_DIR}/unit.key")
        if ca:
            sync["ca_file"] = f"{TLS_DIR}/ca.pem"
    config["sync"] = sync
    return config


def make_key_and_csr(unit_id: str, agency: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.x509.oid import NameOID

    key = Ed25519PrivateKey.generate()
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, unit_id),
                                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, agency)]))
           .sign(key, None))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, csr


def sign_csr(csr, ca_cert, ca_key, days: int = CERT_DAYS):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ed25519, ed448
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = dt.datetime.now(dt.timezone.utc)
    algorithm = None if isinstance(ca_key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)) else hashes.SHA256()
    return (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca_cert.subject)
            .public_key(csr.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, algorithm))


def _provision(args) -> int:
    from cryptography.hazmat.primitives import serialization

    # 1. every input checked before anything is made or written
    for value, flag in ((args.unit_id, "--unit-id"), (args.agency, "--agency")):
        if not ID_RE.match(value):
            raise TechError(f"{flag} {value!r}: use 1-64 letters, digits, '.', '_' or '-'")
    host, port, tls = parse_broker(args.broker)
    ca_pem = b""
    if args.broker_ca:
        read_pem_certs(args.broker_ca, "--broker-ca")
        ca_pem = args.broker_ca.read_bytes()
    downlink_hex = downlink_key_hex(args.downlink_key)
    if (args.ca_cert is None) != (args.ca_key is None):
        raise TechError("--ca-cert and --ca-key go together")
    ca = load_ca(args.ca_cert, args.ca_key) if args.ca_cert else None
    if args.out.exists() and not args.force:
        raise TechError(f"--out {args.out} exists (use --force to overwrite)")
    if not args.out.parent.is_dir():
        raise TechError(f"--out {args.out}: folder {args.out.parent} does not exist")
    config = make_config(template_config(args.template), args.unit_id, args.agency, host, port, tls, bool(ca_pem),
                         downlink_hex)
    config_text = dumps(config).encode()
    check_config(config_text, f"{args.template or 'built-in template'} + provision")

    # 2. make and write
    key_pem, csr = make_key_and_csr(args.unit_id, args.agency)
    csr_pem = csr.public_bytes(serialization.Encoding.PEM)
    files = {CONFIG: config_text, "etc/alpr-unit/tls/unit.key": key_pem, "etc/alpr-unit/tls/unit.csr": csr_pem}
    if ca_pem:
        files["etc/alpr-unit/tls/ca.pem"] = ca_pem
    if ca:
        files["etc/alpr-unit/tls/unit.pem"] = sign_csr(csr, *ca).public_bytes(serialization.Encoding.PEM)
    if not args.technician.strip() or len(args.technician) > 128:
        raise TechError("--technician: give the name or id of the technician (1-128 characters)")
    meta = {"unit": args.unit_id, "agency": args.agency, "broker": f"{host}:{port}", "technician": args.technician,
            "created_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    write_bundle(args.out, files, meta)
    print(f"provision: wrote {args.out} for unit {args.unit_id} ({args.agency}, broker {host}:{port})")
    if tls and not ca:
        csr_path = args.out.with_suffix(".csr")
        csr_path.write_bytes(csr_pem)
        print(f"provision: certificate request {csr_path}: have the agency CA sign it, then "
              f"alpr-unit-tech add-cert --bundle {args.out} --cert UNIT.pem")
    return EXIT_OK


def _add_cert(args) -> int:
    from cryptography.hazmat.primitives import serialization

    manifest, files = read_bundle(args.bundle)
    cert = read_pem_certs(args.cert, "--cert")[0]
    key = serialization.load_pem_private_key(files["etc/alpr-unit/tls/unit.key"], password=None)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        raise TechError(f"--cert {args.cert} was not issued for this bundle's key (unit {manifest.get('unit')})")
    files["etc/alpr-unit/tls/unit.pem"] = cert.public_bytes(serialization.Encoding.PEM)
    meta = {k: v for k, v in manifest.items() if k not in ("files", "format")}
    write_bundle(args.bundle, files, meta)
    print(f"add-cert: {args.bundle} now holds the certificate for {manifest.get('unit')}")
    return EXIT_OK


def _install(args) -> int:
    manifest = install_bundle(args.bundle, args.root)
    print(f"install-bundle: unit {manifest.get('unit')} installed under {args.root / 'etc/alpr-unit'}")
    return EXIT_OK
