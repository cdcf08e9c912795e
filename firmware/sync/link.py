"""One MQTT connection to the agency's broker, kept up with jittered exponential backoff.

paho-mqtt does the protocol; this adapter chooses the options the issue asks for (MQTT 5 or 3.1.1,
mutual TLS or username/password, persistent session, retained status with a Last Will) and owns
reconnection. Each connection gets a fresh paho client (a new `generation`): what was in flight on
a lost connection is not replayed blindly by paho but re-read from the outbox by the sender, in
priority order, so a hit queued during an outage overtakes old images, and a message that makes
the broker drop the connection cannot wedge the link in a reconnect loop.
"""

from __future__ import annotations

import json
import logging
import random
import ssl
import threading
from typing import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from firmware import __version__
from firmware.clock import Clock, iso_utc
from firmware.sync.config import SyncConfig
from firmware.sync.messages import SCHEMA, backoff_delay, downlink_filters, uplink_topic

log = logging.getLogger(__name__)
PACKET_OVERHEAD = 64 * 1024   # topic, properties and headers around the largest payload we accept


class MqttLink:
    def __init__(self, config: SyncConfig, unit_id: str, clock: Clock,
                 on_message: Callable[[str, bytes, bool], None] | None = None,
                 on_puback: Callable[[int, int, bool], None] | None = None,
                 rng: random.Random | None = None,
                 on_oversize: Callable[[str, int], None] | None = None):
        self.config = config
        self.unit_id = unit_id
        self.clock = clock
        self._on_message_cb = on_message
        self._on_puback_cb = on_puback     # (generation, mid, ok)
        self._on_oversize_cb = on_oversize  # (topic, size): a message over downlink_max_message_bytes
        self._rng = rng or random.Random()
        self.connected = threading.Event()
        self.generation = 0
        self.receive_maximum = 65535
        self.max_packet_size: int | None = None   # MQTT 5 CONNACK Maximum Packet Size, when the broker sets one
        self.connects = 0
        self.connect_failures = 0
        self.last_error: str | None = None
        self.last_connected_at: str | None = None
        self.status_topic = uplink_topic(config.agency, unit_id, "status")
        self.client: mqtt.Client | None = None
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _status_payload(self, state: str) -> bytes:
        return json.dumps({"schema": SCHEMA, "id": f"{self.unit_id}:status:{iso_utc(self.clock.utc())}",
                           "unit": self.unit_id, "state": state, "at": iso_utc(self.clock.utc()),
                           "version": __version__}, separators=(",", ":")).encode()

    def _build(self, generation: int) -> mqtt.Client:
        cfg = self.config
        v5 = cfg.protocol == "5"
        kwargs = {"callback_api_version": mqtt.CallbackAPIVersion.VERSION2,
                  "client_id": cfg.client_id or f"alpr-{self.unit_id}",
                  "protocol": mqtt.MQTTv5 if v5 else mqtt.MQTTv311, "reconnect_on_failure": False}
        if not v5:
            kwargs["clean_session"] = False
        client = mqtt.Client(**kwargs)
        client.max_inflight_messages_set(max(1, cfg.inflight) + 4)   # + status messages
        client.max_queued_messages_set(0)
        client.connect_timeout = cfg.connect_timeout_s
        if cfg.tls:
            client.tls_set(ca_certs=str(cfg.ca_file) if cfg.ca_file else None,
                           certfile=str(cfg.cert_file) if cfg.cert_file else None,
                           keyfile=str(cfg.key_file) if cfg.key_file else None,
                           cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if cfg.username is not None:
            client.username_pw_set(cfg.username, cfg.password)
        will_props = None
        if v5:
            will_props = Properties(PacketTypes.WILLMESSAGE)
            will_props.ContentType = "application/json"
        client.will_set(self.status_topic, self._status_payload("offline"), qos=1, retain=True,
                        properties=will_props)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = lambda c, u, mid, rc, p, g=generation: self._on_publish(g, mid, rc)
        client.on_message = self._on_message
        return client

    # --- paho callbacks (network thread) --------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.last_error = f"connack: {reason_code}"
            log.warning("broker refused connection", extra={"event": "sync.connect_refused",
                                                            "reason": str(reason_code)})
            return
        recv_max = getattr(properties, "ReceiveMaximum", None) if properties is not None else None
        self.receive_maximum = int(recv_max) if recv_max else 65535
        max_packet = getattr(properties, "MaximumPacketSize", None) if properties is not None else None
        self.max_packet_size = int(max_packet) if max_packet else None
        self.connects += 1
        self.last_connected_at = iso_utc(self.clock.utc())
        log.info("connected to broker", extra={"event": "sync.connected", "host": self.config.host,
                                               "session_present": bool(getattr(flags, "session_present", False)),
                                               "receive_maximum": self.receive_maximum})
        client.publish(self.status_topic, self._status_payload("online"), qos=1, retain=True)
        if self.config.downlink:
            client.subscribe([(f, 1) for f in downlink_filters(self.config.agency, self.unit_id)])
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was = self.connected.is_set()
        self.connected.clear()
        if was:
            log.info("disconnected from broker", extra={"event": "sync.disconnected", "reason": str(reason_code)})
        elif not self._stop.is_set():  # closed before CONNACK: typically our certificate or password was refused
            self.connect_failures += 1
            self.last_error = f"closed before CONNACK: {reason_code}"
            log.warning("broker closed the connection before accepting it",
                        extra={"event": "sync.connect_failed", "reason": str(reason_code)})
        self._lost.set()

    def _on_publish(self, generation: int, mid: int, reason_code) -> None:
        if self._on_puback_cb is not None:
            ok = not (reason_code is not None and getattr(reason_code, "is_failure", False))
            self._on_puback_cb(generation, mid, ok)

    def _on_message(self, client, userdata, message) -> None:
        # the size first, before any copy: paho itself reads a packet of any size the broker sends
        size = len(message.payload)
        if size > self.config.downlink_max_message_bytes:
            log.warning("downlink message over the size limit refused", extra={
                "event": "sync.downlink_oversize", "bytes": size, "limit": self.config.downlink_max_message_bytes})
            if self._on_oversize_cb is not None:
                self._on_oversize_cb(message.topic, size)
            return
        if self._on_message_cb is not None:
            self._on_message_cb(message.topic, bytes(message.payload), bool(message.retain))

    def ask(self, topic_filter: str, subscribe: bool) -> bool:
        """Subscribe to (or leave) one more filter on the live connection: subscribing makes the broker send
        that filter's retained messages again (a hotlist's chunks that arrived before their manifest)."""
        client = self.client
        if client is None or not self.connected.is_set():
            return False
        try:
            rc = (client.subscribe(topic_filter, qos=1) if subscribe else client.unsubscribe(topic_filter))[0]
        except (ValueError, RuntimeError):
            return False
        return rc == mqtt.MQTT_ERR_SUCCESS

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background; reconnect forever (jittered backoff) until stop()."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="mqtt-link", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        cfg = self.config
        attempt = 0
        while not self._stop.is_set():
            self.generation += 1
            client = self._build(self.generation)
            self._lost.clear()
            try:
                if cfg.protocol == "5":
                    props = Properties(PacketTypes.CONNECT)
                    props.SessionExpiryInterval = cfg.session_expiry_s
                    props.ReceiveMaximum = 1024
                    # the broker must not send us more than we accept (it drops such a message and logs it)
                    props.MaximumPacketSize = cfg.downlink_max_message_bytes + PACKET_OVERHEAD
                    client.connect(cfg.host, cfg.port, cfg.keepalive_s, clean_start=False, properties=props)
                else:
                    client.connect(cfg.host, cfg.port, cfg.keepalive_s)
            except (OSError, ssl.SSLError, ValueError) as exc:
                self.connect_failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("cannot reach broker", extra={"event": "sync.connect_failed", "error": self.last_error})
            else:
                self.client = client
                client.loop_start()
                connects_before = self.connects
                while not self._stop.is_set() and not self._lost.wait(0.2):
                    pass
                if self._stop.is_set():
                    return  # stop() says goodbye on this client
                client.loop_stop()
                if self.connects > connects_before:
                    attempt = 0
            attempt += 1
            self._stop.wait(backoff_delay(attempt, cfg.reconnect_min_s, cfg.reconnect_max_s, self._rng))

    def stop(self, timeout: float = 3.0) -> None:
        """Publish `offline` (retained), disconnect cleanly (so no Last Will), stop the network thread."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=self.config.connect_timeout_s + 5)
        client = self.client
        if client is not None:
            if self.connected.is_set():
                try:
                    info = client.publish(self.status_topic, self._status_payload("offline"), qos=1, retain=True)
                    info.wait_for_publish(timeout)
                except (RuntimeError, ValueError) as exc:
                    log.warning("offline status not sent", extra={"event": "sync.offline_failed", "error": str(exc)})
            client.disconnect()
            client.loop_stop()
        self.connected.clear()
        self._thread = None

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False,
                properties: Properties | None = None) -> tuple[int, mqtt.MQTTMessageInfo]:
        """Publish on the current connection; returns (generation, info). Raises RuntimeError when none."""
        client, generation = self.client, self.generation
        if client is None:
            raise RuntimeError("not connected")
        return generation, client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
