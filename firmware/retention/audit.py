"""Hash-chained audit log: each entry carries the hash of the one before, so an auditor can detect
any edit, insertion, deletion or reordering with `alpr-unit audit verify`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from datetime import datetime

from firmware.clock import iso_utc
from firmware.storage import outbox

GENESIS = "0" * 64


def entry_hash(prev_hash: str, entry: dict) -> str:
    canonical = json.dumps(
        {k: entry[k] for k in ("id", "at", "unit_id", "event", "user", "purpose", "detail")},
        sort_keys=True, separators=(",", ":"),
    )
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def append_audit(conn: sqlite3.Connection, *, unit_id: str, event: str, at: datetime, user: str | None = None,
                 purpose: str | None = None, detail: dict | None = None) -> str:
    """Append one entry (inside the caller's transaction) and queue it for sync. Returns its id."""
    row = conn.execute("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    prev = row[0] if row else GENESIS
    entry = {
        "id": str(uuid.uuid4()), "at": iso_utc(at), "unit_id": unit_id, "event": event, "user": user,
        "purpose": purpose, "detail": json.dumps(detail or {}, sort_keys=True, separators=(",", ":")),
    }
    digest = entry_hash(prev, entry)
    conn.execute(
        "INSERT INTO audit_log (id, at, unit_id, event, user, purpose, detail, prev_hash, hash)"
        " VALUES (:id, :at, :unit_id, :event, :user, :purpose, :detail, :prev_hash, :hash)",
        {**entry, "prev_hash": prev, "hash": digest},
    )
    outbox.enqueue(conn, "audit", entry["id"], {**entry, "detail": detail or {}, "prev_hash": prev, "hash": digest}, at)
    return entry["id"]
