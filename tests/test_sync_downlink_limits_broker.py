"""Downlink resource limits through a real mosquitto (issue 18 item 5): junk chunks do not evict a
legitimate list, a 50 MB chunk is refused without the unit holding it, and both are audited."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

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
MiB = 1024 * 1024
REPO = Path(__file__).resolve().parent.parent

# The agency's publisher runs in its own process: a 50 MB payload built here would count in our RSS.
PUBLISHER = """
import sys, paho.mqtt.client as mqtt
port, ca, cert, key, topic, size, retain = sys.argv[1:8]
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="agency-bulk", protocol=mqtt.MQTTv5)
c.tls_set(ca_certs=ca, certfile=cert, keyfile=key)
c.connect("127.0.0.1", int(port))
c.loop_start()
info = c.publish(topic, b"J" * int(size), qos=1, retain=retain == "1")
info.wait_for_publish(120)
assert info.is_published()
c.disconnect(); c.loop_stop()
"""


def publish_bulk(broker, pki, topic: str, size: int, retain: bool = False) -> None:
    subprocess.run([sys.executable, "-c", PUBLISHER, str(broker.port), str(pki.ca), str(pki.collector_cert),
                    str(pki.collector_key), topic, str(size), "1" if retain else "0"], check=True, timeout=180)


def agency_client(broker, pki):
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="agency-publisher", protocol=mqtt.MQTTv5)
    client.tls_set(ca_certs=str(pki.ca), certfile=str(pki.collector_cert), keyfile=str(pki.collector_key))
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


def publish_list(client, key, seq, content, retain=True):
    manifest, chunks = hotlist_manifest(content, name="stolen", chunk_size=64 * 1024)
    envelope = sign(key, kind="hotlist", agency=AGENCY, target="all", seq=seq, data=manifest)
    infos = [client.publish(downlink_topic(AGENCY, "all", "hotlist", "stolen"), envelope, qos=1, retain=retain)]
    infos += [client.publish(downlink_topic(AGENCY, "all", "hotlist", "stolen", str(seq), str(i)), c, qos=1,
                             retain=retain) for i, c in enumerate(chunks)]
    for info in infos:
        info.wait_for_publish(30)


def wait(predicate, timeout=90.0):
    """Generous: the machine may be loaded; the condition, not the clock, ends the wait."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class Unit:
    def __init__(self, tmp_path, broker, pki, **overrides):
        self.key = Ed25519PrivateKey.generate()
        public = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
        self.writer = Writer(open_database(tmp_path / "data")).start()
        self.conn = connect(tmp_path / "data" / DB_NAME, readonly=True)
        self.service = SyncService(sync_config(broker, pki, downlink_public_key=public, **overrides),
                                   tmp_path / "data", self.writer, "unit-0001", SystemClock())

    def entries(self, prefix: str) -> int:
        return self.conn.execute("SELECT count(*) FROM hotlist_entries e JOIN hotlists h ON h.id = e.list_id"
                                 " AND h.staging = 0 WHERE e.plate LIKE ?", (prefix + "%",)).fetchone()[0]

    def audits(self, event: str) -> list[dict]:
        return [json.loads(r[0]) for r in self.conn.execute("SELECT detail FROM audit_log WHERE event = ?"
                                                            " ORDER BY seq", (event,))]

    def stop(self):
        self.service.stop()
        self.writer.stop()
        self.conn.close()


def plates(n, prefix):
    return "".join(f"{prefix}{i:05d};NC\n" for i in range(n)).encode()


def test_junk_chunks_do_not_evict_a_legitimate_list_and_are_audited(tmp_path, broker, pki):
    unit = Unit(tmp_path, broker, pki)
    agency = agency_client(broker, pki)
    # retained before the unit connects: the legitimate list (its chunks come to the unit before its
    # manifest) and 3 x 1 MiB junk chunks for a transfer no manifest announces
    publish_list(agency, unit.key, 100, plates(30_000, "GD"))
    for i in range(3):
        agency.publish(downlink_topic(AGENCY, "all", "hotlist", "stolen", "999", str(i)), b"\xee" * MiB, qos=1,
                       retain=True).wait_for_publish(30)
    unit.service.start()
    try:
        assert wait(lambda: unit.entries("GD") == 30_000), unit.service.status()["downlink"]
        # junk while connected too, then a newer list: it loads as well
        for i in range(3):
            agency.publish(downlink_topic(AGENCY, "all", "hotlist", "stolen", "1000", str(i)), b"\xdd" * MiB,
                           qos=1).wait_for_publish(30)
        publish_list(agency, unit.key, 101, plates(20_000, "NW"), retain=False)
        assert wait(lambda: unit.entries("NW") == 20_000), unit.service.status()["downlink"]

        def dropped_junk():
            found = [d for d in unit.audits("downlink_dropped") if d["reason"] == "no_manifest"]
            names = {t for d in found for t in d["transfers"]}
            return {"stolen/999", "stolen/1000"} <= names
        assert wait(dropped_junk), unit.audits("downlink_dropped")
        status = unit.service.status()["downlink"]
        assert status["transfers"]["held_bytes"] == 0 and status["transfers"]["open"] == []
        assert unit.entries("GD") == 0                  # replaced by the newer list, as the agency asked
    finally:
        unit.stop()
        agency.loop_stop()
        agency.disconnect()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_50_mb_chunk_is_refused_without_being_held(tmp_path, broker, pki, protocol):
    unit = Unit(tmp_path, broker, pki, protocol=protocol)
    unit.service.start()
    agency = agency_client(broker, pki)
    try:
        assert wait(lambda: unit.service.status()["connected"])
        publish_list(agency, unit.key, 1, plates(1000, "WM"), retain=False)   # warm up every code path once
        assert wait(lambda: unit.entries("WM") == 1000)
        before = rss_bytes()
        publish_bulk(broker, pki, downlink_topic(AGENCY, "all", "hotlist", "stolen", "2", "0"), 50 * MiB)
        publish_list(agency, unit.key, 3, plates(1000, "AF"), retain=False)
        assert wait(lambda: unit.entries("AF") == 1000), unit.service.status()["downlink"]
        status = unit.service.status()["downlink"]
        assert status["transfers"]["held_bytes"] == 0 and status["queued_bytes"] == 0
        growth = rss_bytes() - before
        if protocol == "5":
            # CONNECT told the broker our Maximum Packet Size: it never sends the 50 MB (mosquitto logs it)
            assert status["rejected"] == 0 and status["dropped"] == 0
            assert growth < 20 * MiB, growth
        else:
            # 3.1.1 cannot say so: paho reads the packet, the size is checked before any copy, and it is
            # refused, audited and released
            assert wait(lambda: [a["reason"] for a in unit.audits("downlink_rejected")] == ["oversize"])
            refused = unit.audits("downlink_rejected")[0]
            assert refused["bytes"] == 50 * MiB and refused["topic"].endswith("/hotlist/stolen/2/0")
            assert growth < 60 * MiB, growth        # paho's one read buffer at most; nothing of it is kept
        print(f"RSS growth after a 50 MB chunk over MQTT {protocol}: {growth / MiB:.1f} MiB")
    finally:
        unit.stop()
        agency.loop_stop()
        agency.disconnect()
