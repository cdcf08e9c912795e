"""The hotlist side of the downlink inbox: chunks, transfers, and the audit of what was dropped.

A mixin of `DownlinkInbox` (firmware/sync/inbox.py), which owns the queue, verification and the
writer; the bookkeeping itself (what is held, what fits) is the pure `HotlistTransfers`. Every
refusal is a security event and an audit entry (`DownlinkInbox._reject`); every drop (a message
too large, the queue full, chunks with no signed manifest, a transfer superseded or timed out) an
audit entry `downlink_dropped`, counted on the network thread and written by the worker at most
every DROP_FLUSH_S, so a flood costs counters, not disk.

Chunks that arrive before their manifest are not held: mosquitto sends a retained topic's children
before the topic itself, so this is routine on connect. The verified manifest then subscribes to
its own chunks (`ask_broker`), which makes the broker send the retained chunks again, after it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Callable

from firmware.retention.audit import append_audit
from firmware.sync.config import SyncConfig
from firmware.sync.downlink import Rejected, Verified
from firmware.sync.messages import downlink_topic, parse_downlink_topic
from firmware.sync.transfers import HotlistTransfers, Transfer

log = logging.getLogger(__name__)
DOWNLINK_USER = "agency-downlink"
DROP_FLUSH_S = 2.0         # dropped-message counts become one audit entry at most this often
ASK_AGAIN_S = 15.0         # a transfer with no new chunk for this long asks the broker again (then 2x, 3x...)
MAX_ASKS = 3
_SEQ_CACHE = 1024
_UNCLAIMED_KEYS = 64


class HotlistChunks:
    def _init_transfers(self, config: SyncConfig) -> None:
        self.transfers = HotlistTransfers(config.downlink_max_bytes, config.downlink_buffer_bytes,
                                          config.downlink_transfer_timeout_s)
        # (name, seq) -> [chunks, bytes] dropped for want of a manifest, and other drops by reason ->
        # [messages, bytes]: the network thread and the worker both count, the worker audits
        self._unclaimed: dict[tuple[str, str], list[int]] = {}
        self._drops: dict[str, list[int]] = {}
        self._drops_lock = threading.Lock()
        self._last_drop_flush = float("-inf")
        self._accepted_seq: dict[str, int | None] = {}   # stream -> last accepted seq (stale chunks are ignored)
        self.ask_broker: Callable[[str, bool], bool] | None = None   # (topic filter, subscribe?) -> sent
        self.dropped = 0
        self.stale_chunks = 0

    def _now_s(self) -> float:
        return self.clock.monotonic_ns() / 1e9

    # --- network thread -------------------------------------------------------------------------
    def oversize(self, topic: str, size: int) -> None:
        """A message larger than sync.downlink_max_message_bytes, refused before it was copied: a security
        event and an audit entry (through the queue, as a marker of a few bytes)."""
        try:
            self._queue.put_nowait((topic, size))
        except queue.Full:
            self._count_drop("oversize", size)

    def _count_drop(self, reason: str, size: int) -> None:
        self.dropped += 1
        with self._drops_lock:
            entry = self._drops.setdefault(reason, [0, 0])
            entry[0] += 1
            entry[1] += size

    # --- worker ---------------------------------------------------------------------------------
    def tick(self) -> None:
        """Housekeeping between messages: audit counted drops, ask again for stalled transfers, expire them."""
        wall = time.monotonic()            # the audit's write rate is real time, whatever the unit's clock says
        if (self._drops or self._unclaimed) and wall - self._last_drop_flush >= DROP_FLUSH_S:
            self._last_drop_flush = wall
            self._flush_drops()
        now = self._now_s()
        for transfer in self.transfers.expire(now):
            self._abandon(transfer, "transfer_timeout", f"no chunk for {self.config.downlink_transfer_timeout_s} s;"
                                                        f" {len(transfer.chunks)} of {len(transfer.manifest.chunks)}"
                                                        f" received")
        for transfer in self.transfers.stalled(now, ASK_AGAIN_S):
            if transfer.requests < MAX_ASKS:
                self._ask_for_chunks(transfer)

    def _manifest(self, topic: str, payload: bytes, verified: Verified) -> str:
        limit = self.config.downlink_max_message_bytes
        if verified.data.chunk_size > limit:     # every chunk would be refused unread: say so once, here
            return self._reject(topic, payload, Rejected("too_large", f"chunk_size {verified.data.chunk_size} over"
                                                                      f" sync.downlink_max_message_bytes {limit}"),
                                stream=verified.stream, seq=verified.seq)
        try:
            transfer, superseded = self.transfers.open(verified, topic, self._now_s())
        except Rejected as exc:
            return self._reject(topic, payload, exc, stream=verified.stream, seq=verified.seq)
        if superseded is not None:
            self._abandon(superseded, "superseded", f"seq {verified.seq} arrived before it was complete")
        if transfer.complete:                 # an empty list has nothing to wait for
            return self._finish(transfer)
        if not transfer.chunks and transfer.requests == 0:
            self._ask_for_chunks(transfer)    # chunks retained before the manifest were dropped: ask again
        return "pending"

    def _chunk(self, topic: str, rest: tuple[str, ...], payload: bytes) -> str:
        name, seq_text, index_text = rest
        if not (seq_text.isdigit() and index_text.isdigit()):
            return self._reject(topic, payload, Rejected("wrong_topic", "chunk topic needs numeric seq/index"))
        seq = int(seq_text)
        try:
            transfer = self.transfers.add_chunk(name, seq, int(index_text), payload, self._now_s())
        except KeyError:
            if self._already_applied(name, seq):
                self.stale_chunks += 1        # a retained chunk of a list loaded before: nothing to do
                return "duplicate"
            with self._drops_lock:            # no signed manifest opened this transfer: not held, counted
                if len(self._unclaimed) < _UNCLAIMED_KEYS or (name, seq_text) in self._unclaimed:
                    entry = self._unclaimed.setdefault((name, seq_text), [0, 0])
                else:
                    entry = self._drops.setdefault("no_manifest_other", [0, 0])
                entry[0] += 1
                entry[1] += len(payload)
            self.dropped += 1
            return "dropped"
        except Rejected as exc:
            return self._reject(topic, payload, exc, stream=f"hotlist:{name}", seq=seq)
        return self._finish(transfer) if transfer is not None else "pending"

    def _finish(self, transfer: Transfer) -> str:
        self._forget_request(transfer)
        try:
            content = self.transfers.finish(transfer)
        except Rejected as exc:
            return self._reject(transfer.topic, b"", exc, stream=transfer.verified.stream, seq=transfer.seq)
        return self._apply(transfer.topic, transfer.verified, content)

    def _already_applied(self, name: str, seq: int) -> bool:
        stream = f"hotlist:{name}"
        if stream not in self._accepted_seq:
            if len(self._accepted_seq) >= _SEQ_CACHE:
                self._accepted_seq.clear()    # junk names must not grow the cache without bound
            last = self._last_seq(stream)
            self._accepted_seq[stream] = last[0] if last else None
        last_seq = self._accepted_seq[stream]
        return last_seq is not None and seq <= last_seq

    def _chunk_filter(self, transfer: Transfer) -> str:
        target = (parse_downlink_topic(transfer.topic, self.config.agency) or None)
        return downlink_topic(self.config.agency, target.target if target else "all", "hotlist", transfer.name,
                              str(transfer.seq), "+")

    def _ask_for_chunks(self, transfer: Transfer) -> None:
        """Subscribe to this transfer's chunks: the broker sends the retained ones again, after the manifest."""
        transfer.requests += 1
        if self.ask_broker is not None and self.ask_broker(self._chunk_filter(transfer), True):
            log.info("asked the broker again for a hotlist's chunks", extra={
                "event": "sync.downlink_rerequest", "list": transfer.name, "seq": transfer.seq,
                "received": len(transfer.chunks), "chunks": len(transfer.manifest.chunks)})

    def _forget_request(self, transfer: Transfer) -> None:
        if transfer.requests and self.ask_broker is not None:
            self.ask_broker(self._chunk_filter(transfer), False)

    def _abandon(self, transfer: Transfer, reason: str, detail: str) -> None:
        """A transfer dropped before it completed (superseded, timed out): audited, its memory freed."""
        self.transfers.close(transfer)
        self._forget_request(transfer)
        self._audit_drop({"reason": reason, "detail": detail, **transfer.describe()})

    def _flush_drops(self) -> None:
        with self._drops_lock:
            drops, self._drops = self._drops, {}
            unclaimed, self._unclaimed = self._unclaimed, {}
        for reason, (count, size) in drops.items():
            self._audit_drop({"reason": reason, "messages": count, "bytes": size})
        if unclaimed:
            self._audit_drop({"reason": "no_manifest", "messages": sum(c for c, _ in unclaimed.values()),
                              "bytes": sum(b for _, b in unclaimed.values()),
                              "transfers": [f"{n}/{s}" for n, s in list(unclaimed)[:20]]})

    def _audit_drop(self, detail: dict) -> None:
        at = self.clock.utc()
        log.warning("downlink data dropped", extra={"event": "sync.downlink_dropped", "reason": detail["reason"]})
        try:
            self.writer.call(lambda conn: append_audit(conn, unit_id=self.unit_id, event="downlink_dropped", at=at,
                                                       user=DOWNLINK_USER, purpose="downlink", detail=detail))
        except Exception:  # noqa: BLE001
            log.exception("could not record a downlink drop", extra={"event": "sync.downlink_error"})
