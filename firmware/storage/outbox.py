"""The sync outbox is a table, not memory: a record queued here survives crashes and power loss.

Priorities decide what leaves first when coverage returns: hits and audit before reads, images last.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from firmware.clock import iso_utc

PRIORITY = {"hit": 0, "audit": 0, "disposition": 1, "event": 2, "read": 3, "image": 4, "health": 5}


def enqueue(conn: sqlite3.Connection, kind: str, record_id: str, payload: dict | bytes, at: datetime) -> None:
    """Queue one record for sync; queuing the same (kind, record_id) twice is a no-op."""
    if kind not in PRIORITY:
        raise ValueError(f"unknown outbox kind {kind!r}")
    body = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":"), default=str).encode()
    conn.execute(
        "INSERT OR IGNORE INTO outbox (record_id, kind, priority, payload, created_at) VALUES (?, ?, ?, ?, ?)",
        (record_id, kind, PRIORITY[kind], body, iso_utc(at)),
    )


def counts(conn: sqlite3.Connection) -> dict:
    """Queued (unacknowledged) records by kind."""
    rows = conn.execute("SELECT kind, count(*) FROM outbox WHERE acked_at IS NULL GROUP BY kind").fetchall()
    return {kind: n for kind, n in rows}
