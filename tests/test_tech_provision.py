"""alpr-unit-tech provision -> bundle -> install-bundle -> the daemon starts on it and reports health."""

from __future__ import annotations

import json
import signal
import subprocess
import tarfile
import tomllib

import pytest
from cryptography import x509

from conftest import alpr_unit_cmd
from firmware.demo import asset, render_clip
from tech_helpers import agency_pki, bench_template, tech
from tests.mosquitto import Collector, Mosquitto, requires_mosquitto


@pytest.fixture
def agency(tmp_path):
    return agency_pki(tmp_path / "agency")


def provision(tmp_path, agency, *extra, unit="car-1042", broker="mqtts://mqtt.agency.example"):
    out = tmp_path / f"{unit}.tar"
    return out, tech("provision", "--technician", "T. Tech", "--unit-id", unit, "--agency", "durham-pd", "--broker", broker,
                     "--broker-ca", agency.pki.ca, "--downlink-key", agency.downlink_hex, "--out", out, *extra)


def test_provision_signs_the_csr_and_the_bundle_holds_a_config_the_firmware_accepts(tmp_path, agency):
    out, result = provision(tmp_path, agency, "--ca-cert", agency.pki.ca, "--ca-key", agency.ca_key)
    assert result.returncode == 0, result.stderr
    with tarfile.open(out) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
        key_mode = tar.getmember("etc/alpr-unit/tls/unit.key").mode
    assert key_mode == 0o600 and (out.stat().st_mode & 0o777) == 0o600
    config = tomllib.loads(files["etc/alpr-unit/unit.toml"].decode())
    assert config["unit"]["id"] == "car-1042"
    assert {k: config["sync"][k] for k in ("host", "port", "agency", "tls", "downlink_public_key", "cert_file")} == {
        "host": "mqtt.agency.example", "port": 8883, "agency": "durham-pd", "tls": True,
        "downlink_public_key": agency.downlink_hex, "cert_file": "/etc/alpr-unit/tls/unit.pem"}
    cert = x509.load_pem_x509_certificate(files["etc/alpr-unit/tls/unit.pem"])
    ca = x509.load_pem_x509_certificate(agency.pki.ca.read_bytes())
    cert.verify_directly_issued_by(ca)
    assert cert.subject.rfc4514_string() == "O=durham-pd,CN=car-1042"
    csr = x509.load_pem_x509_csr(files["etc/alpr-unit/tls/unit.csr"])
    assert csr.is_signature_valid and csr.public_key() == cert.public_key()


@pytest.mark.parametrize("change, message", [
    ({"--unit-id": "car 1042"}, "--unit-id 'car 1042'"),
    ({"--agency": "durham/pd"}, "--agency 'durham/pd'"),
    ({"--broker": "http://mqtt.example"}, "expected mqtts://host"),
    ({"--broker": "mqtts://mqtt.example:99999"}, "bad port"),
    ({"--downlink-key": "abcd"}, "neither 64 hex characters nor a readable PEM file"),
    ({"--broker-ca": "/nonexistent/ca.pem"}, "--broker-ca /nonexistent/ca.pem"),
    ({"--ca-cert": "CA"}, "--ca-cert and --ca-key go together"),
    ({"--technician": " "}, "--technician"),
])
def test_provision_names_each_wrong_input_and_writes_nothing(tmp_path, agency, change, message):
    args = {"--technician": "T. Tech", "--unit-id": "car-1042", "--agency": "durham-pd", "--broker": "mqtts://mqtt.example",
            "--broker-ca": str(agency.pki.ca), "--downlink-key": agency.downlink_hex}
    args.update({k: (str(agency.pki.ca) if v == "CA" else v) for k, v in change.items()})
    out = tmp_path / "bundle.tar"
    result = tech("provision", *[x for kv in args.items() for x in kv], "--out", out)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "agency"]


def test_a_template_the_firmware_refuses_is_named_with_its_key(tmp_path, agency):
    template = tmp_path / "t.toml"
    template.write_text('[unit]\nmin_free_mb = -5\n')
    _, result = provision(tmp_path, agency, "--template", template)
    assert result.returncode == 2 and "unit.min_free_mb" in result.stderr


def test_without_the_ca_key_the_csr_waits_for_the_agency_and_add_cert_checks_the_key(tmp_path, agency):
    from cryptography.hazmat.primitives import serialization

    from firmware.tech.provision import sign_csr

    out, result = provision(tmp_path, agency)
    assert result.returncode == 0, result.stderr
    csr = x509.load_pem_x509_csr(out.with_suffix(".csr").read_bytes())
    ca = x509.load_pem_x509_certificate(agency.pki.ca.read_bytes())
    ca_key = serialization.load_pem_private_key(agency.ca_key.read_bytes(), None)
    wrong = tmp_path / "wrong.pem"
    wrong.write_bytes(agency.pki.server_cert.read_bytes())
    refused = tech("add-cert", "--bundle", out, "--cert", wrong)
    assert refused.returncode == 2 and "not issued for this bundle's key" in refused.stderr
    signed = tmp_path / "unit.pem"
    signed.write_bytes(sign_csr(csr, ca, ca_key).public_bytes(serialization.Encoding.PEM))
    assert tech("add-cert", "--bundle", out, "--cert", signed).returncode == 0
    with tarfile.open(out) as tar:
        assert tar.extractfile("etc/alpr-unit/tls/unit.pem").read() == signed.read_bytes()


def test_a_damaged_bundle_is_refused_before_anything_is_installed(tmp_path, agency):
    out, _ = provision(tmp_path, agency, "--ca-cert", agency.pki.ca, "--ca-key", agency.ca_key)
    data = bytearray(out.read_bytes())
    at = data.find(b"durham-pd", 2048)
    data[at:at + 9] = b"durham-xx"
    out.write_bytes(bytes(data))
    root = tmp_path / "root"
    result = tech("install-bundle", out, "--root", root)
    assert result.returncode == 1 and "does not match its checksum" in result.stderr
    assert not root.exists()


@requires_mosquitto
def test_provisioned_unit_starts_on_its_bundle_and_reports_health_over_mutual_tls(tmp_path, agency):
    clip = tmp_path / "clip"
    render_clip(clip)
    template = bench_template(tmp_path / "template.toml", clip, asset("demo-route.nmea"))
    broker = Mosquitto(tmp_path / "broker", agency.pki).start()
    collector = None
    try:
        out, result = provision(tmp_path, agency, "--template", template, "--ca-cert", agency.pki.ca,
                                "--ca-key", agency.ca_key, broker=f"mqtts://127.0.0.1:{broker.port}")
        assert result.returncode == 0, result.stderr
        root = tmp_path / "root"
        installed = tech("install-bundle", out, "--root", root)
        assert installed.returncode == 0, installed.stderr
        etc = root / "etc/alpr-unit"
        assert oct(etc.stat().st_mode & 0o777) == "0o750" and oct((etc / "tls/unit.key").stat().st_mode & 0o777) == "0o640"
        # The bundle names /etc/alpr-unit/tls/...; this test's root is elsewhere, so point the config there.
        config = etc / "unit.toml"
        config.write_text(config.read_text().replace("/etc/alpr-unit/", f"{etc}/"))
        collector = Collector(broker.port, agency.pki, topic="alpr/v1/durham-pd/#").start()
        daemon = subprocess.Popen([*alpr_unit_cmd(), "run", "--config", str(config), "--data-dir",
                                   str(tmp_path / "data")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            assert collector.wait_for(lambda: collector.unique("health") >= 1, 90), broker.log_tail()
        finally:
            daemon.send_signal(signal.SIGTERM)
            log = daemon.communicate(timeout=60)[0]
        health = json.loads(collector.last["health"])
        assert health["unit"] == "car-1042"
        assert daemon.returncode == 0, log[-2000:]
    finally:
        if collector:
            collector.stop()
        broker.stop()


@pytest.mark.parametrize("name", ["unit.toml", "usb-webcam.toml", "bench-folder.toml"])
def test_the_config_writer_round_trips_every_shipped_config(name):
    from conftest import REPO
    from firmware.tech.toml_write import dumps

    data = tomllib.loads((REPO / "device/config" / name).read_text())
    assert tomllib.loads(dumps(data)) == data


def test_make_config_keeps_the_template_and_replaces_identity_and_credentials():
    from firmware.tech.provision import make_config

    base = {"unit": {"id": "template", "min_free_mb": 5}, "sync": {"host": "old", "username": "u", "password": "p",
                                                                    "health_interval_s": 30}}
    config = make_config(base, "car-1", "pd", "broker", 8883, True, True, "ab" * 32)
    assert config["unit"] == {"id": "car-1", "min_free_mb": 5}
    assert "password" not in config["sync"] and config["sync"]["health_interval_s"] == 30
    assert config["sync"]["ca_file"] == "/etc/alpr-unit/tls/ca.pem" and base["unit"]["id"] == "template"
    plain = make_config({}, "car-1", "pd", "broker", 1883, False, False, "ab" * 32)
    assert "cert_file" not in plain["sync"] and plain["sync"]["tls"] is False
