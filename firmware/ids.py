"""Record ids: UUIDv7 (RFC 9562), a millisecond Unix time then 74 random bits.

Reads, hits, events and audit entries are keyed by a UUID that also travels as the MQTT message id.
With random (v4) ids every index on those keys (reads' primary key, the outbox's (kind, record_id),
hits by read) puts consecutive records on unrelated pages, so the scheduled purge, which deletes
the oldest records, rewrites one page per index per record: ~37 KB of SD-card writes per purged read
(docs/perf/retention.md). Time-ordered ids keep each day's records on neighbouring pages, the
way the rows themselves are. The embedded time is the system clock when the id was made: it orders
storage, it is not evidence (the record's own UTC fields and clock source are).
Python 3.14 has uuid.uuid7; bookworm's 3.11 does not, hence these few lines.
"""

from __future__ import annotations

import os
import time
import uuid

_RAND_B = (1 << 62) - 1


def new_id(unix_ms: int | None = None, rand: bytes | None = None) -> str:
    """A UUIDv7 string. `unix_ms`/`rand` (10 bytes) fix the parts, for reproducible benches and tests."""
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    if not 0 <= ms < 1 << 48:
        raise ValueError(f"unix_ms out of range: {ms}")
    r = int.from_bytes(os.urandom(10) if rand is None else rand, "big")
    value = ms << 80 | 0x7 << 76 | (r >> 62 & 0xFFF) << 64 | 0b10 << 62 | r & _RAND_B
    return str(uuid.UUID(int=value))


def id_time_ms(record_id: str) -> int:
    """The Unix milliseconds a v7 id was made at."""
    u = uuid.UUID(record_id)
    if u.version != 7:
        raise ValueError(f"not a UUIDv7: {record_id}")
    return u.int >> 80
