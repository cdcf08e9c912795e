"""The agency side of a rig run: a private mosquitto, a recorder of everything the unit publishes, and
a signing publisher for the downlink (hotlists, and the malformed messages of the downlink faults).

The broker and its certificates come from `firmware.sync.testbroker` (the same launcher the tests
use); the recorder keeps every message in arrival order, with its de-duplication key, so a judge can
tell "delivered once", "delivered twice" and "never delivered" apart after the fact.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware.sync.downlink import hotlist_manifest, sign
from firmware.sync.messages import downlink_topic, message_id
from firmware.sync.testbroker import Collector, Mosquitto, Pki, make_pki, mosquitto_binary

__all__ = ["Agency", "Mosquitto", "Pki", "Recorder", "make_pki", "mosquitto_binary", "Message"]


@dataclass(frozen=True)
class Message:
    kind: str
    id: str
    arrived: float          # time.time() at the recorder
    body: dict | None       # decoded JSON (None for images)


class Recorder(Collector):
    """Every uplink message, in order, also appended to a JSON-lines file for the run's evidence."""

    def __init__(self, port: int, pki: Pki, log_path: Path, agency: str):
        super().__init__(port, pki, topic=f"alpr/v1/{agency}/+/+", client_id="hil-recorder")
        self.messages: list[Message] = []
        self._log = open(log_path, "a", encoding="utf-8")

    def _on_message(self, client, userdata, message) -> None:
        kind = message.topic.rsplit("/", 1)[-1]
        payload = bytes(message.payload)
        body = None
        if kind != "image":
            try:
                body = json.loads(payload)
            except ValueError:
                body = None
        try:
            mid = message_id(payload, kind)
        except (ValueError, KeyError, TypeError):
            mid = f"?{self.received}"
        record = Message(kind, mid, time.time(), body if isinstance(body, dict) else None)
        with self.changed:
            self.messages.append(record)
            self._log.write(json.dumps({"kind": kind, "id": mid, "arrived": record.arrived,
                                        "bytes": len(payload)}) + "\n")
        super()._on_message(client, userdata, message)

    def of(self, kind: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if m.kind == kind]

    def latest(self, kind: str) -> dict | None:
        found = self.of(kind)
        return found[-1].body if found else None

    def stop(self) -> None:
        super().stop()
        self._log.close()


class Agency:
    """Signs and publishes downlink messages as the agency's back office would, through the broker."""

    def __init__(self, port: int, pki: Pki, agency: str):
        self.key = Ed25519PrivateKey.generate()
        self.agency = agency
        self.port, self.pki = port, pki
        self.seq = int(time.time())
        self.client = self._connect()

    def _connect(self) -> mqtt.Client:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"hil-agency-{os.getpid()}",
                             protocol=mqtt.MQTTv5)
        client.tls_set(ca_certs=str(self.pki.ca), certfile=str(self.pki.collector_cert),
                       keyfile=str(self.pki.collector_key))
        connected = threading.Event()
        client.on_connect = lambda c, u, f, rc, p: connected.set()
        client.reconnect_delay_set(0.05, 0.5)
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        connected.wait(10)
        return client

    @property
    def public_key_hex(self) -> str:
        return self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()

    def hotlist(self, rows: list[dict], *, name: str = "hil", variant: str = "good", retain: bool = True,
                chunk_size: int = 4096, seq: int | None = None) -> int:
        """Publish a whole hotlist (the signed manifest, then its chunks). `variant` spoils it on purpose:
        unsigned (no signature), forged (signed by another key), replayed (an older seq than the last
        accepted) or oversize (bigger than the unit's downlink_max_bytes). Returns the seq used."""
        content = "PlateNumber,PlateState,Category\n" + "".join(
            f"{r['plate']},{r.get('state', '')},{r.get('category', 'stolen vehicle')}\n" for r in rows)
        data = content.encode()
        if variant == "oversize":
            filler = "".join(f"OV{i:05d},,filler\n" for i in range(120_000)).encode()
            data, chunk_size = data + filler, 256 * 1024
        if seq is None:
            self.seq += 1
            seq = self.seq if variant != "replayed" else self.seq - 1000
        manifest, chunks = hotlist_manifest(data, name=name, chunk_size=chunk_size, format="csv")
        key = Ed25519PrivateKey.generate() if variant == "forged" else self.key
        envelope = sign(key, kind="hotlist", agency=self.agency, target="all", seq=seq, data=manifest)
        if variant == "unsigned":
            wrapper = json.loads(envelope)
            wrapper.pop("sig")
            envelope = json.dumps(wrapper).encode()
        # the signed manifest first, then the chunks (docs/mqtt.md): a unit holds chunks only for a
        # transfer whose manifest it has verified
        infos = [self.client.publish(downlink_topic(self.agency, "all", "hotlist", name), envelope, qos=1,
                                     retain=retain)]
        infos += [self.client.publish(downlink_topic(self.agency, "all", "hotlist", name, str(seq), str(i)), c,
                                      qos=1, retain=retain) for i, c in enumerate(chunks)]
        for info in infos:
            info.wait_for_publish(10)
        return seq

    def roster(self, users: list[dict]) -> None:
        """A signed roster (who may log in on the unit's screen, with credential hashes), retained."""
        self.seq += 1
        envelope = sign(self.key, kind="roster", agency=self.agency, target="all", seq=self.seq, data={"users": users})
        self.client.publish(downlink_topic(self.agency, "all", "roster"), envelope, qos=1, retain=True).wait_for_publish(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
