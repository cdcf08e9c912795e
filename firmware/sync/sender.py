"""Drains the outbox to the broker: priority order, a bounded in-flight window, acked only on PUBACK.

A row is marked synced only after the broker acknowledged it (QoS 1 PUBACK), through the daemon's
single writer. Anything not yet acknowledged when the process dies is simply still pending and is
sent again after restart: receivers de-duplicate on the message id, so resending is always safe.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from firmware.clock import Clock, iso_utc
from firmware.storage import outbox
from firmware.storage.db import DB_NAME, Writer, connect
from firmware.sync.config import SyncConfig
from firmware.sync.link import MqttLink
from firmware.sync.messages import encode_image, sendable_kinds, uplink_topic

log = logging.getLogger(__name__)
ACK_FLUSH_S = 0.05
ACK_FLUSH_MAX = 1000
REFUSED_HOLD_S = 30.0   # a kind the broker refuses (MQTT 5 PUBACK failure, e.g. an ACL) waits this long
SLOW_START = 16         # in-flight window right after a (re)connection; grows by one per acknowledgement
STALLS_BEFORE_PROBING = 2  # connections lost with nothing acknowledged before sending one message at a time
POISON_HOLD_S = 600.0   # a single message the broker cannot take (too large, drops the connection) waits this long
ALL_KINDS = tuple(outbox.PRIORITY)


@dataclass
class _InFlight:
    mid: int
    sent_ns: int
    size: int
    kind: str


@dataclass
class Prepared:
    """A row turned into what goes on the wire, or the reason it cannot go."""

    topic: str | None
    payload: bytes | None
    skip_reason: str | None = None
    skip_kind: str = "info"


def prepare(row, data_dir: Path, agency: str, unit_id: str, max_bytes: int) -> Prepared:
    """Pure-ish: outbox row -> topic and payload (images are read from disk at send time)."""
    kind = row["kind"]
    if kind == "image":
        ref = json.loads(row["payload"])
        path = Path(data_dir) / ref["path"]
        try:
            jpeg = path.read_bytes()
        except FileNotFoundError:
            return Prepared(None, None, "image file gone (purged before it was sent)", "info")
        except OSError as exc:
            return Prepared(None, None, f"image unreadable: {exc.strerror}", "data_loss")
        payload = encode_image(row["record_id"], ref["read_id"], ref["role"], jpeg, unit_id)
    else:
        payload = bytes(row["payload"])
    if len(payload) > max_bytes:
        return Prepared(None, None, f"payload {len(payload)} bytes exceeds max_payload_bytes {max_bytes}",
                        "data_loss")
    return Prepared(uplink_topic(agency, unit_id, kind), payload)


class OutboxSender:
    def __init__(self, config: SyncConfig, data_dir: Path, writer: Writer, link: MqttLink, unit_id: str,
                 clock: Clock, record_event: Callable | None = None):
        self.config = config
        self.data_dir = Path(data_dir)
        self.writer = writer
        self.link = link
        self.unit_id = unit_id
        self.clock = clock
        self._record_event = record_event
        self._acks: collections.deque = collections.deque()   # (generation, mid, ok) from the network thread
        self._wake = threading.Event()
        self._inflight: dict[int, _InFlight] = {}             # seq -> in flight (sender thread only)
        self._by_mid: dict[int, int] = {}                     # mid -> seq (sender thread only)
        self._committing: set[int] = set()                    # acked, ack not yet committed
        self._lock = threading.Lock()
        self._pending_acks: list[tuple[int, int]] = []        # (seq, size)
        self._skips: list[tuple[int, str, str, str]] = []     # (seq, record_id, reason, event kind)
        self._last_flush = 0.0
        self._day, self._used_today = None, 0
        self.sent = 0
        self.acked = 0
        self.rejected = 0
        self.resent = 0
        self.skipped = 0
        self.bytes_acked = 0
        self.last_ack_at: str | None = None
        self._gen = 0                                          # the link generation our in-flight state is for
        self._acks_this_conn = 0
        self._stalls = 0
        self._probe_mode = False
        self.poisoned = 0
        self._blocked: dict[str, int] = {}                    # kind -> monotonic ns until which it waits
        self._deferred: dict[int, int] = {}                   # seq -> monotonic ns (one message the broker refuses)
        self._probing: set[str] = set()                        # refused kinds: one message at a time until acked
        self._kind_inflight: collections.Counter = collections.Counter()

    # --- network thread -------------------------------------------------------------------------
    def on_puback(self, generation: int, mid: int, ok: bool) -> None:
        self._acks.append((generation, mid, ok))
        self._wake.set()

    def notify(self) -> None:
        """Something was queued: look at the outbox now rather than at the next idle poll."""
        self._wake.set()

    # --- sender thread --------------------------------------------------------------------------
    def run(self, stop_event: threading.Event) -> None:
        conn = connect(self.data_dir / DB_NAME, readonly=True)
        try:
            self._load_budget(conn)
            while not stop_event.is_set():
                self._take_acks()
                if self.link.generation != self._gen:
                    self._new_connection()
                self._flush(force=False)
                if not self.link.connected.is_set():
                    self._wake.wait(0.1)
                    self._wake.clear()
                    continue
                self._expire()
                with self._lock:
                    uncommitted = len(self._committing)
                if uncommitted >= ACK_FLUSH_MAX:
                    # acknowledged but not yet committed by the writer (a slow card, a loaded CPU): send no
                    # more until it catches up, so what a crash makes us send twice stays bounded by
                    # ACK_FLUSH_MAX + the window instead of growing with the writer's lag
                    self._flush(force=True)
                    self._wake.wait(0.05)
                    self._wake.clear()
                    continue
                window = max(1, min(self.config.inflight, self.link.receive_maximum))
                window = 1 if self._probe_mode else min(window, SLOW_START + self._acks_this_conn)
                room = window - len(self._inflight)
                if room < max(1, window // 4):
                    self._wake.wait(0.05)
                    self._wake.clear()
                    continue
                self._roll_day()
                kinds = self._kinds()
                self._undefer()
                with self._lock:
                    exclude = set(self._inflight) | self._committing | set(self._deferred)
                rows = outbox.fetch_pending(conn, min(room, 256), kinds, exclude)
                if not rows:
                    self._flush(force=True)
                    self._wake.wait(0.2)
                    self._wake.clear()
                    continue
                if not self._send(rows):
                    self._wake.wait(0.2)  # everything fetched is waiting for a probe of its kind
                    self._wake.clear()
            self._take_acks()
            self._flush(force=True, wait=True)
        finally:
            conn.close()

    def _kinds(self) -> tuple[str, ...] | None:
        """Kinds to fetch now: the byte budget's choice, minus kinds the broker is refusing."""
        kinds = sendable_kinds(self._used_today, self.config.daily_byte_budget, tuple(self.config.budget_exempt))
        if self._blocked:
            now = self.clock.monotonic_ns()
            self._blocked = {k: t for k, t in self._blocked.items() if t > now}
            if self._blocked:
                kinds = tuple(k for k in (kinds or ALL_KINDS) if k not in self._blocked)
        return kinds

    def _send(self, rows) -> int:
        """Publish rows (skipping unsendable ones); returns how many were handed to paho."""
        v5 = self.config.protocol == "5" and self.config.message_properties
        attempted, skipped_here = [], 0
        for row in rows:
            seq, kind = row["seq"], row["kind"]
            if kind in self._probing and self._kind_inflight[kind]:
                continue
            prepared = prepare(row, self.data_dir, self.config.agency, self.unit_id, self.config.max_payload_bytes)
            if prepared.payload is None:
                self._skip(seq, row["record_id"], prepared.skip_reason, prepared.skip_kind)
                skipped_here += 1
                continue
            limit = self.link.max_packet_size
            if limit and len(prepared.payload) + len(prepared.topic) + 64 > limit:
                self._defer(seq, kind, f"larger than the broker's maximum packet size {limit}")
                skipped_here += 1
                continue
            props = None
            if v5:
                props = Properties(PacketTypes.PUBLISH)
                props.ContentType = "image/x-alpr-frame" if kind == "image" else "application/json"
                props.UserProperty = [("id", row["record_id"]), ("kind", kind)]
            try:
                generation, info = self.link.publish(prepared.topic, prepared.payload, qos=1, properties=props)
            except (ValueError, RuntimeError) as exc:
                log.warning("publish refused locally", extra={"event": "sync.publish_error", "error": str(exc),
                                                              "kind": kind})
                break
            if generation != self._gen:
                break  # the connection changed under us; the row stays pending and is fetched again
            self._inflight[seq] = _InFlight(info.mid, self.clock.monotonic_ns(), len(prepared.payload), kind)
            self._kind_inflight[kind] += 1
            self._by_mid[info.mid] = seq
            attempted.append(seq)
            if row["attempts"]:
                self.resent += 1
            self.sent += 1
        if attempted:
            now = self.clock.utc()
            self.writer.submit(lambda c, s=attempted: outbox.mark_attempted(c, s, now))
        return len(attempted) + skipped_here

    def _skip(self, seq: int, record_id: str, reason: str, event_kind: str) -> None:
        log.info("outbox record skipped", extra={"event": "sync.skip", "record_id": record_id, "reason": reason})
        self.skipped += 1
        with self._lock:
            self._committing.add(seq)
        self._skips.append((seq, record_id, reason, event_kind))

    def _take_acks(self) -> None:
        while self._acks:
            generation, mid, ok = self._acks.popleft()
            if generation != self._gen:
                continue  # an acknowledgement from a connection whose in-flight state was dropped
            seq = self._by_mid.pop(mid, None)
            if seq is None:
                continue  # a superseded copy (resent after a timeout) was acknowledged too
            flight = self._inflight.pop(seq, None)
            if flight is None:
                continue
            self._kind_inflight[flight.kind] -= 1
            if not ok:
                # stays pending; its kind waits a while instead of being refused in a tight loop
                self.rejected += 1
                if flight.kind not in self._blocked:
                    log.warning("broker refused a message; holding that kind back",
                                extra={"event": "sync.puback_error", "kind": flight.kind,
                                       "hold_s": REFUSED_HOLD_S})
                self._blocked[flight.kind] = self.clock.monotonic_ns() + int(REFUSED_HOLD_S * 1e9)
                self._probing.add(flight.kind)
                continue
            self._probing.discard(flight.kind)
            self._acks_this_conn += 1
            self._probe_mode = False
            with self._lock:
                self._committing.add(seq)
            self._pending_acks.append((seq, flight.size))
            self.acked += 1
            self.bytes_acked += flight.size

    def _new_connection(self) -> None:
        """The link reconnected (or is trying to): forget what was in flight on the old connection; it is
        still pending in the outbox and is fetched again in priority order.

        A connection that was lost with messages in flight and nothing acknowledged is a stall. After
        STALLS_BEFORE_PROBING stalls the sender sends one message at a time; if the connection is lost
        with that single message in flight, its kind is held back like a refused one (a message the
        broker drops the connection over must not wedge the link; the rest of the outbox keeps moving).
        """
        self._take_acks()  # the old client's last acknowledgements (its loop has stopped: no more will come)
        if self._inflight and self._acks_this_conn == 0:
            self._stalls += 1
            if self._probe_mode and len(self._inflight) == 1:
                seq, flight = next(iter(self._inflight.items()))
                self.poisoned += 1
                self._defer(seq, flight.kind, "the broker dropped the connection over it")
                self._stalls, self._probe_mode = 0, False
            elif self._stalls >= STALLS_BEFORE_PROBING:
                self._probe_mode = True
        elif self._acks_this_conn:
            self._stalls = 0
        self._inflight.clear()
        self._by_mid.clear()
        self._kind_inflight.clear()
        self._acks_this_conn = 0
        self._gen = self.link.generation

    def _defer(self, seq: int, kind: str, reason: str) -> None:
        """Hold one message back for POISON_HOLD_S; it stays pending (nothing is lost) and is tried again."""
        if seq not in self._deferred:
            log.warning("message held back", extra={"event": "sync.defer", "kind": kind, "reason": reason,
                                                     "hold_s": POISON_HOLD_S})
        self._deferred[seq] = self.clock.monotonic_ns() + int(POISON_HOLD_S * 1e9)

    def _undefer(self) -> None:
        if self._deferred:
            now = self.clock.monotonic_ns()
            self._deferred = {s: t for s, t in self._deferred.items() if t > now}

    def _expire(self) -> None:
        """A message with no PUBACK for resend_after_s on a live connection is sent again."""
        now = self.clock.monotonic_ns()
        limit_ns = int(self.config.resend_after_s * 1e9)
        for seq, flight in list(self._inflight.items()):
            if now - flight.sent_ns > limit_ns:
                self._inflight.pop(seq)
                self._by_mid.pop(flight.mid, None)
                self._kind_inflight[flight.kind] -= 1

    def _flush(self, force: bool, wait: bool = False) -> None:
        now_s = time.monotonic()
        if not self._pending_acks and not self._skips:
            return
        if not force and len(self._pending_acks) < ACK_FLUSH_MAX and now_s - self._last_flush < ACK_FLUSH_S:
            return
        self._last_flush = now_s
        acks, self._pending_acks = self._pending_acks, []
        skips, self._skips = self._skips, []
        at = self.clock.utc()
        day = at.strftime("%Y-%m-%d")
        size = sum(s for _, s in acks)
        seqs = [s for s, _ in acks] + [s for s, *_ in skips]
        self._used_today += size
        record_event = self._record_event

        def job(conn):
            outbox.mark_acked(conn, seqs, at)
            if size:
                conn.execute("INSERT INTO sync_budget (day, bytes) VALUES (?, ?)"
                             " ON CONFLICT(day) DO UPDATE SET bytes = bytes + excluded.bytes", (day, size))
            for _, record_id, reason, kind in skips:
                if record_event is not None:
                    record_event(conn, kind, "sync", {"record_id": record_id, "reason": reason}, at)

        def done(_future, seqs=seqs):
            with self._lock:
                self._committing.difference_update(seqs)
            self._wake.set()

        if acks:
            self.last_ack_at = iso_utc(at)
        future = self.writer.submit(job)
        future.add_done_callback(done)
        if wait:
            try:
                future.result(timeout=30)
            except Exception as exc:  # noqa: BLE001 - logged; rows stay pending and are resent
                log.error("acks not recorded", extra={"event": "sync.ack_write_failed", "error": str(exc)})

    def _load_budget(self, conn) -> None:
        self._day = self.clock.utc().strftime("%Y-%m-%d")
        row = conn.execute("SELECT bytes FROM sync_budget WHERE day = ?", (self._day,)).fetchone()
        self._used_today = row[0] if row else 0

    def _roll_day(self) -> None:
        day = self.clock.utc().strftime("%Y-%m-%d")
        if day != self._day:
            self._day, self._used_today = day, 0

    def status(self) -> dict:
        return {"in_flight": len(self._inflight), "refused_kinds": sorted(self._probing),
                "probe_mode": self._probe_mode, "poisoned": self.poisoned, "deferred": len(self._deferred), "sent": self.sent, "acked": self.acked, "resent": self.resent,
                "rejected": self.rejected, "skipped": self.skipped, "bytes_acked": self.bytes_acked,
                "bytes_today": self._used_today, "last_ack_at": self.last_ack_at}
