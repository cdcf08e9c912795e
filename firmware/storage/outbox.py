"""The sync outbox is a table, not memory: a record queued here survives crashes and power loss.

Priorities decide what leaves first when coverage returns: hits and audit before reads, images last.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from firmware.clock import iso_utc

PRIORITY = {"hit": 0, "audit": 0, "disposition": 1, "event": 2, "read": 3, "image": 4, "health": 5, "report": 2}


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


# --- sender side: the MQTT sender reads with its own connection and acks through the daemon's writer ---

def fetch_pending(conn: sqlite3.Connection, limit: int, kinds: tuple[str, ...] | None = None,
                  exclude: set[int] | frozenset = frozenset()) -> list[sqlite3.Row]:
    """The next unacknowledged rows in send order (priority, then age), skipping `exclude` (already in flight).

    `kinds` restricts to those kinds (the byte budget is spent: only exempt kinds go). The first query
    reads only the (acked_at, priority, seq) index, so a large in-flight window costs little.
    """
    if limit <= 0 or (kinds is not None and not kinds):
        return []
    want = limit + len(exclude)
    if kinds is None:
        seqs = conn.execute("SELECT seq FROM outbox WHERE acked_at IS NULL ORDER BY priority, seq LIMIT ?",
                            (want,)).fetchall()
    else:
        marks = ",".join("?" * len(kinds))
        seqs = conn.execute(f"SELECT seq FROM outbox WHERE acked_at IS NULL AND kind IN ({marks})"
                            " ORDER BY priority, seq LIMIT ?", (*kinds, want)).fetchall()
    chosen = [r[0] for r in seqs if r[0] not in exclude][:limit]
    if not chosen:
        return []
    rows = conn.execute(
        "SELECT seq, record_id, kind, priority, payload, created_at, attempts FROM outbox"
        f" WHERE seq IN ({','.join('?' * len(chosen))}) AND acked_at IS NULL ORDER BY priority, seq",
        chosen).fetchall()
    return rows


def mark_attempted(conn: sqlite3.Connection, seqs: list[int], at: datetime) -> None:
    """Count one more send attempt (inside the caller's transaction)."""
    stamp = iso_utc(at)
    conn.executemany("UPDATE outbox SET attempts = attempts + 1, last_attempt = ? WHERE seq = ?",
                     [(stamp, s) for s in seqs])


def mark_acked(conn: sqlite3.Connection, seqs: list[int], at: datetime) -> int:
    """The broker acknowledged these rows (PUBACK): they never leave again. Returns rows newly acked."""
    stamp = iso_utc(at)
    cur = conn.executemany("UPDATE outbox SET acked_at = ? WHERE seq = ? AND acked_at IS NULL",
                           [(stamp, s) for s in seqs])
    return cur.rowcount


def requeue(conn: sqlite3.Connection, kind: str | None = None) -> int:
    """Technician tool: send acknowledged rows again (e.g. the agency lost its copy). Returns rows requeued."""
    if kind is None:
        return conn.execute("UPDATE outbox SET acked_at = NULL WHERE acked_at IS NOT NULL").rowcount
    return conn.execute("UPDATE outbox SET acked_at = NULL WHERE acked_at IS NOT NULL AND kind = ?",
                        (kind,)).rowcount


def delete_acked(conn: sqlite3.Connection, before: datetime, limit: int = 5000) -> int:
    """Forget acknowledged rows acked before `before` (a small batch; call repeatedly)."""
    return conn.execute(
        "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE acked_at IS NOT NULL AND acked_at < ?"
        " LIMIT ?)", (iso_utc(before), limit)).rowcount


def summary(conn: sqlite3.Connection) -> dict:
    """Queue depth by kind, queued bytes, the oldest queued record and the last acknowledgement."""
    queued = {kind: n for kind, n in conn.execute(
        "SELECT kind, count(*) FROM outbox WHERE acked_at IS NULL GROUP BY kind")}
    row = conn.execute("SELECT coalesce(sum(length(payload)), 0), min(created_at) FROM outbox"
                       " WHERE acked_at IS NULL").fetchone()
    last = conn.execute("SELECT max(acked_at) FROM outbox WHERE acked_at IS NOT NULL").fetchone()[0]
    return {"queued": queued, "queued_total": sum(queued.values()), "queued_payload_bytes": row[0],
            "oldest_queued_at": row[1], "last_ack_at": last}
