"""Hash-chained audit log: each entry carries the hash of the one before, so an auditor can detect
any edit, insertion, deletion or reordering with `alpr-unit audit verify`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import datetime

from firmware.clock import iso_utc
from firmware.ids import new_id
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
        "id": new_id(), "at": iso_utc(at), "unit_id": unit_id, "event": event, "user": user,
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


# Event names used by this unit (others may add more; verify does not restrict them).
EVENTS = ("login_ok", "login_failed", "login_locked", "logout", "query", "query_refused", "hit_disposition",
          "hotlist_change", "export", "purge", "hold_add", "hold_renew", "hold_release", "config_change", "roster_change",
          "malfunction", "back_in_service", "maintenance", "data_loss", "config_applied", "config_refused")

REQUIRED_TRIGGERS = ("audit_log_no_update", "audit_log_no_delete")


def verify_chain(conn: sqlite3.Connection) -> dict:
    """Walk the chain from its anchor and report every break. Read-only.

    Detects an edited entry (its hash no longer matches), a deleted one (the next entry's prev_hash or
    seq does not follow, or the AUTOINCREMENT high-water mark is past the last entry, or it is still
    queued for sync), an inserted or reordered one (prev_hash / seq mismatch), a removed guard trigger,
    and a queued copy that disagrees with the entry. A full rewrite of the chain by someone who also
    rewrites the outbox is only caught by the back office's copy: that is what sync is for.
    """
    problems: list[dict] = []
    triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    for name in REQUIRED_TRIGGERS:
        if name not in triggers:
            problems.append({"problem": "trigger_missing", "trigger": name})
    anchor = conn.execute("SELECT seq, hash FROM audit_anchor WHERE id = 1").fetchone()
    if anchor is None:
        problems.append({"problem": "anchor_missing"})
        anchor_seq, prev_hash = 0, GENESIS
    else:
        anchor_seq, prev_hash = anchor[0], anchor[1]
    expected_seq = anchor_seq + 1
    count = 0
    hashes: dict[str, str] = {}
    for row in conn.execute(
        "SELECT seq, id, at, unit_id, event, user, purpose, detail, prev_hash, hash FROM audit_log ORDER BY seq"
    ):
        count += 1
        entry = dict(row)
        hashes[entry["id"]] = entry["hash"]
        if entry["seq"] != expected_seq:
            problems.append({"problem": "seq_gap" if entry["seq"] > expected_seq else "seq_before_anchor",
                             "seq": entry["seq"], "expected_seq": expected_seq})
        if entry["prev_hash"] != prev_hash:
            problems.append({"problem": "chain_broken", "seq": entry["seq"], "id": entry["id"]})
        if entry_hash(entry["prev_hash"], entry) != entry["hash"]:
            problems.append({"problem": "entry_altered", "seq": entry["seq"], "id": entry["id"]})
        prev_hash, expected_seq = entry["hash"], entry["seq"] + 1
    high = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").fetchone()
    last = expected_seq - 1
    if high is not None and high[0] > last:
        problems.append({"problem": "tail_deleted", "last_seq": last, "highest_seq_issued": high[0]})
    for record_id, payload in conn.execute("SELECT record_id, payload FROM outbox WHERE kind = 'audit'"):
        try:
            queued_hash = json.loads(payload).get("hash")
        except (ValueError, AttributeError):
            queued_hash = None
        if record_id not in hashes:
            problems.append({"problem": "entry_deleted", "id": record_id, "evidence": "still in sync outbox"})
        elif queued_hash != hashes[record_id]:
            problems.append({"problem": "queued_copy_differs", "id": record_id})
    return {"ok": not problems, "entries": count, "anchor_seq": anchor_seq, "last_seq": last,
            "head_hash": prev_hash, "problems": problems}


def purge_audit_prefix(conn: sqlite3.Connection, upto_seq: int, at: datetime) -> int:
    """Delete entries up to `upto_seq` (already decided: synced and past their retention).

    The anchor moves first so the chain still verifies and the delete trigger lets these rows go.
    Returns the number deleted. Runs inside the caller's transaction.
    """
    row = conn.execute("SELECT hash FROM audit_log WHERE seq = ?", (upto_seq,)).fetchone()
    if row is None:
        return 0
    conn.execute("UPDATE audit_anchor SET seq = ?, hash = ?, moved_at = ? WHERE id = 1",
                 (upto_seq, row[0], iso_utc(at)))
    conn.execute("DELETE FROM outbox WHERE kind = 'audit' AND record_id IN"
                 " (SELECT id FROM audit_log WHERE seq <= ?)", (upto_seq,))
    return conn.execute("DELETE FROM audit_log WHERE seq <= ?", (upto_seq,)).rowcount
