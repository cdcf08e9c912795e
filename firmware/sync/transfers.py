"""Hotlist transfers over the downlink: memory is promised only to what the agency signed.

A hotlist arrives as one signed manifest (name, seq, size, chunk_size, the sha256 of every chunk)
and raw chunks on `.../hotlist/{name}/{seq}/{index}`. Chunks carry no signature of their own, so
anyone who can publish on the broker can send them: before this module, junk chunks were buffered
unchecked and three 1 MiB ones evicted a legitimate list. Now:

- a chunk is kept only for a transfer whose verified manifest arrived first, only at an index the
  manifest declares, only at exactly the size it declares and with the hash it declares;
- a manifest reserves its declared size when it opens a transfer, and the sum of open reservations
  never exceeds `budget_bytes` (`sync.downlink_buffer_bytes`), each at most `max_transfer_bytes`
  (`sync.downlink_max_bytes`): the bytes held for chunks are bounded whatever the broker sends;
- a transfer that makes no progress for `timeout_s` is dropped and its reservation freed.

Pure bookkeeping (no I/O, time passed in): the inbox turns each refusal and drop into an audit
entry and asks the broker again for chunks that came before their manifest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from firmware.sync.downlink import HotlistManifest, Rejected, Verified, assemble


@dataclass
class Transfer:
    verified: Verified
    topic: str                        # the manifest's topic (its target: all or this unit)
    opened_s: float
    progress_s: float                 # when a chunk last arrived (or the manifest)
    chunks: dict[int, bytes] = field(default_factory=dict)
    held: int = 0                     # bytes of chunks held
    requests: int = 0                 # times the broker was asked again for this transfer's chunks

    @property
    def manifest(self) -> HotlistManifest:
        return self.verified.data

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def seq(self) -> int:
        return self.verified.seq

    @property
    def complete(self) -> bool:
        # an empty list's one chunk is zero bytes, which MQTT cannot tell from clearing a retained message
        return self.manifest.size == 0 or len(self.chunks) == len(self.manifest.chunks)

    def expected_size(self, index: int) -> int:
        m = self.manifest
        last = len(m.chunks) - 1
        return m.chunk_size if index < last else m.size - m.chunk_size * last

    def describe(self) -> dict:
        return {"list": self.name, "seq": self.seq, "size": self.manifest.size, "chunks": len(self.manifest.chunks),
                "received": len(self.chunks), "held_bytes": self.held}


class HotlistTransfers:
    """Open transfers by list name (one at a time per list: the newest signed one)."""

    def __init__(self, max_transfer_bytes: int, budget_bytes: int, timeout_s: float):
        self.max_transfer_bytes = max_transfer_bytes
        self.budget_bytes = budget_bytes
        self.timeout_s = timeout_s
        self.open_by_name: dict[str, Transfer] = {}

    @property
    def reserved(self) -> int:
        return sum(t.manifest.size for t in self.open_by_name.values())

    @property
    def held(self) -> int:
        return sum(t.held for t in self.open_by_name.values())

    def expects(self, name: str, seq: int) -> bool:
        t = self.open_by_name.get(name)
        return t is not None and t.seq == seq

    def open(self, verified: Verified, topic: str, now_s: float) -> tuple[Transfer, Transfer | None]:
        """Open a transfer for a verified manifest; returns (transfer, the older one it supersedes or None).
        The same manifest again (a retained copy) returns the transfer already open. Raises Rejected."""
        manifest: HotlistManifest = verified.data
        if not self._consistent(manifest):
            raise Rejected("invalid", "manifest sizes disagree: size, chunk_size and the number of chunks")
        current = self.open_by_name.get(manifest.name)
        if current is not None and current.seq == verified.seq:
            return current, None
        if current is not None and current.seq > verified.seq:
            raise Rejected("superseded", f"seq {verified.seq} is older than the transfer already open"
                                         f" (seq {current.seq})")
        if manifest.size > self.max_transfer_bytes:
            raise Rejected("too_large", f"hotlist of {manifest.size} bytes, limit {self.max_transfer_bytes}")
        others = self.reserved - (current.manifest.size if current else 0)
        if others + manifest.size > self.budget_bytes:
            raise Rejected("over_budget", f"hotlist of {manifest.size} bytes does not fit: {others} of"
                                          f" {self.budget_bytes} bytes already promised to open transfers")
        if current is not None:
            del self.open_by_name[manifest.name]
        transfer = Transfer(verified, topic, now_s, now_s)
        self.open_by_name[manifest.name] = transfer
        return transfer, current

    @staticmethod
    def _consistent(m: HotlistManifest) -> bool:
        count = len(m.chunks)
        if m.size == 0:
            return count == 1
        return m.chunk_size * (count - 1) < m.size <= m.chunk_size * count

    def add_chunk(self, name: str, seq: int, index: int, payload: bytes, now_s: float) -> Transfer | None:
        """Keep one chunk; returns the transfer when it is complete. Raises Rejected (the transfer stays open:
        the right chunk may still come) or KeyError when no transfer expects it."""
        transfer = self.open_by_name.get(name)
        if transfer is None or transfer.seq != seq:
            raise KeyError((name, seq))
        m = transfer.manifest
        if not 0 <= index < len(m.chunks):
            raise Rejected("bad_chunk", f"chunk {index} of {len(m.chunks)}: not in the signed manifest")
        if len(payload) != transfer.expected_size(index):
            raise Rejected("bad_chunk", f"chunk {index} is {len(payload)} bytes, the signed manifest says"
                                        f" {transfer.expected_size(index)} (truncated or altered)")
        if index in transfer.chunks:
            return None                   # the same chunk again (retained copy, or asked for again)
        if hashlib.sha256(payload).hexdigest() != m.chunks[index]:
            raise Rejected("bad_chunk", f"chunk {index} does not match its sha256 (truncated or altered)")
        transfer.chunks[index] = payload
        transfer.held += len(payload)
        transfer.progress_s = now_s
        return transfer if transfer.complete else None

    def finish(self, transfer: Transfer) -> bytes:
        """Close a complete transfer and return its content (checked whole against the manifest)."""
        self.open_by_name.pop(transfer.name, None)
        return assemble(transfer.manifest, transfer.chunks) if transfer.manifest.size else b""

    def close(self, transfer: Transfer) -> None:
        if self.open_by_name.get(transfer.name) is transfer:
            del self.open_by_name[transfer.name]

    def stalled(self, now_s: float, after_s: float) -> list[Transfer]:
        return [t for t in self.open_by_name.values() if now_s - t.progress_s >= after_s * (t.requests + 1)]

    def expire(self, now_s: float) -> list[Transfer]:
        """Close and return the transfers with no progress for timeout_s."""
        gone = [t for t in self.open_by_name.values() if now_s - t.progress_s > self.timeout_s]
        for t in gone:
            del self.open_by_name[t.name]
        return gone

    def status(self) -> dict:
        """Safe from another thread: one snapshot of the open transfers (list() of a dict is atomic)."""
        opened = list(self.open_by_name.values())
        return {"open": [t.describe() for t in opened], "reserved_bytes": sum(t.manifest.size for t in opened),
                "held_bytes": sum(t.held for t in opened), "budget_bytes": self.budget_bytes}
