"""Signed downlink through a real mosquitto: retained hotlist chunks load; forged, replayed and
truncated ones are rejected and recorded as security events."""

from __future__ import annotations

import json
import time

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware.clock import SystemClock
from firmware.storage.db import DB_NAME, Writer, connect, open_database
from firmware.sync.downlink import hotlist_manifest, sign
from firmware.sync.messages import downlink_topic
from firmware.sync.service import SyncService
from tests.mosquitto import broker, pki, sync_config  # noqa: F401 - fixtures

AGENCY = "agency"


def agency_client(broker, pki):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="agency-publisher", protocol=mqtt.MQTTv5)
    client.tls_set(ca_certs=str(pki.ca), certfile=str(pki.collector_cert), keyfile=str(pki.collector_key))
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


def publish_hotlist(client, key, seq, content, *, name="stolen", retain=True, truncate=False):
    manifest, chunks = hotlist_manifest(content, name=name, chunk_size=64)
    if truncate:
        chunks[-1] = chunks[-1][:-3]
    # the signed manifest first (docs/mqtt.md): a unit holds chunks only for a transfer it has verified
    envelope = sign(key, kind="hotlist", agency=AGENCY, target="all", seq=seq, data=manifest)
    infos = [client.publish(downlink_topic(AGENCY, "all", "hotlist", name), envelope, qos=1, retain=retain)]
    infos += [client.publish(downlink_topic(AGENCY, "all", "hotlist", name, str(seq), str(i)), c, qos=1,
                             retain=retain) for i, c in enumerate(chunks)]
    for info in infos:
        info.wait_for_publish(5)


def wait(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_signed_hotlist_over_the_broker(tmp_path, broker, pki):
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    good = "".join(f"GD{i:04d};NC\n" for i in range(300)).encode()
    agency = agency_client(broker, pki)
    publish_hotlist(agency, key, 100, good)           # retained: waiting for the unit before it connects
    writer = Writer(open_database(tmp_path / "data")).start()
    conn = connect(tmp_path / "data" / DB_NAME, readonly=True)  # the test's own reader, never the writer's
    service = SyncService(sync_config(broker, pki, downlink_public_key=public), tmp_path / "data", writer,
                          "unit-0001", SystemClock())
    service.start()

    def count(sql):
        # entries of live lists only: a whole-list load stages its rows visibly before it swaps them in
        live = "(SELECT e.* FROM hotlist_entries e JOIN hotlists h ON h.id = e.list_id AND h.staging = 0)"
        return conn.execute(sql.replace("FROM hotlist_entries", f"FROM {live}")).fetchone()[0]

    def security():
        return [json.loads(r[0])["reason"] for r in conn.execute(
            "SELECT detail FROM events WHERE kind='security' ORDER BY at")]

    try:
        assert wait(lambda: count("SELECT count(*) FROM hotlist_entries") == 300), service.status()["downlink"]
        mallory = Ed25519PrivateKey.generate()
        publish_hotlist(agency, mallory, 101, b"EVIL01;NC\n", retain=False)          # bad signature
        publish_hotlist(agency, key, 99, b"OLD001;NC\n", retain=False)               # replay of an older list
        publish_hotlist(agency, key, 102, b"TRUNC1;NC\nTRUNC2;NC\n", retain=False, truncate=True)
        assert wait(lambda: len(security()) == 3), security()
        assert sorted(security()) == ["bad_chunk", "bad_signature", "replay"]
        assert count("SELECT count(*) FROM hotlist_entries") == 300
        assert count("SELECT count(*) FROM hotlist_entries WHERE plate IN ('EVIL01','OLD001','TRUNC1')") == 0
        # every decision is in the audit log
        assert count("SELECT count(*) FROM audit_log WHERE event = 'downlink_accepted'") == 1
        assert count("SELECT count(*) FROM audit_log WHERE event = 'downlink_rejected'") == 3
        # a newer, good list replaces it
        publish_hotlist(agency, key, 103, b"NEW001;NC\n", retain=False)
        assert wait(lambda: count("SELECT count(*) FROM hotlist_entries WHERE plate = 'NEW001'") == 1)
        assert wait(lambda: service.status()["downlink"]["accepted"] == 2)
    finally:
        service.stop()
        writer.stop()
        agency.loop_stop()
        agency.disconnect()
