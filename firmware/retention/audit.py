"""Hash-chained, forward-secure audit log.

Each entry carries the hash of the one before (an edit, insertion, deletion or reordering breaks the
chain) and, once the agency's key is provisioned, a MAC with an epoch key that is erased as soon as
it is used (auditkey.py): rewriting the chain with the firmware's own functions no longer passes the
agency's check (`alpr-unit agency verify-audit`, agency.py). `alpr-unit audit verify` checks what the
unit can without the key: the chain, the guards, the key's position, the anchor's justification and
the agency's signed checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import datetime

from firmware.clock import iso_utc
from firmware.ids import new_id
from firmware.retention.auditkey import key_state, mac_and_evolve, next_audit_seq
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
    seq = next_audit_seq(conn)
    mac = mac_and_evolve(conn, seq, digest)
    conn.execute(
        "INSERT INTO audit_log (seq, id, at, unit_id, event, user, purpose, detail, prev_hash, hash, mac)"
        " VALUES (:seq, :id, :at, :unit_id, :event, :user, :purpose, :detail, :prev_hash, :hash, :mac)",
        {**entry, "seq": seq, "prev_hash": prev, "hash": digest, "mac": mac},
    )
    outbox.enqueue(conn, "audit", entry["id"], {**entry, "seq": seq, "detail": detail or {}, "prev_hash": prev,
                                                "hash": digest, "mac": mac}, at)
    return entry["id"]


# Event names used by this unit (others may add more; verify does not restrict them).
EVENTS = ("login_ok", "login_failed", "login_locked", "logout", "query", "query_refused", "hit_disposition",
          "hotlist_change", "export", "purge", "hold_add", "hold_renew", "hold_release", "config_change", "roster_change",
          "malfunction", "back_in_service", "maintenance", "data_loss", "config_applied", "config_refused")

REQUIRED_TRIGGERS = ("audit_log_no_update", "audit_log_no_delete", "audit_anchor_no_rewind", "audit_key_only_forward",
                     "audit_key_no_delete")
PURGE_EVENT = "audit_purged"  # the only justification for moving the anchor


def _detail(text: str) -> dict:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def anchor_justified(anchor_seq: int, anchor_hash: str, legacy_anchor_seq: int, entries: list[dict]) -> bool:
    """Pure: the anchor sits where the migration found it, or a later purge entry names it exactly."""
    if anchor_seq <= legacy_anchor_seq:
        return True
    for e in entries:
        if e["event"] == PURGE_EVENT and e["seq"] > anchor_seq:
            d = e["detail"] if isinstance(e["detail"], dict) else _detail(e["detail"])
            if d.get("upto_seq") == anchor_seq and d.get("upto_hash") == anchor_hash:
                return True
    return False


def _legacy(conn: sqlite3.Connection) -> tuple[int, int]:
    """(last seq before the MAC migration, anchor seq then); (0, 0) on a database without it."""
    try:
        row = conn.execute("SELECT last_seq, anchor_seq FROM audit_legacy WHERE id = 1").fetchone()
    except sqlite3.OperationalError:
        return 0, 0
    return (row[0], row[1]) if row else (0, 0)


def _checkpoint_problems(conn: sqlite3.Connection, anchor: tuple[int, str], hashes_by_seq: dict[int, str]) -> tuple:
    """Each signed checkpoint pins the chain up to its entry: that entry's hash must be the agency's."""
    problems, checked = [], 0
    try:
        rows = conn.execute("SELECT seq, through_seq, head_hash FROM audit_checkpoints ORDER BY seq").fetchall()
    except sqlite3.OperationalError:
        return problems, checked
    for seq, through, head in rows:
        if through < anchor[0]:
            continue  # purged since; the agency holds those entries
        actual = anchor[1] if through == anchor[0] else hashes_by_seq.get(through)
        checked += 1
        if actual != head:
            problems.append({"problem": "checkpoint_mismatch" if actual else "checkpoint_entry_missing",
                             "seq": through, "checkpoint": seq})
    return problems, checked


def verify_chain(conn: sqlite3.Connection) -> dict:
    """Walk the chain from its anchor and report every break. Read-only.

    Detects an edited entry (its hash no longer matches), a deleted one (the next entry's prev_hash or
    seq does not follow, or the AUTOINCREMENT high-water mark or the MAC key's position is past the
    last entry, or it is still queued for sync), an inserted or reordered one (prev_hash / seq
    mismatch), a removed guard trigger, a queued copy that disagrees with the entry, a MAC missing
    where the key was in use, an anchor moved without a purge entry that names it, and an entry whose
    hash differs from the agency's signed checkpoint. A full rewrite with the firmware's own functions
    is caught only with the agency's key: `alpr-unit agency verify-audit`.
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
    anchor_hash = prev_hash
    legacy_last, legacy_anchor = _legacy(conn)
    key = key_state(conn)
    expected_seq = anchor_seq + 1
    count, unkeyed, macs = 0, 0, 0
    hashes: dict[str, str] = {}
    hashes_by_seq: dict[int, str] = {}
    purges: list[dict] = []
    for row in conn.execute(
        "SELECT seq, id, at, unit_id, event, user, purpose, detail, prev_hash, hash, mac FROM audit_log ORDER BY seq"
    ):
        count += 1
        entry = dict(row)
        hashes[entry["id"]] = entry["hash"]
        hashes_by_seq[entry["seq"]] = entry["hash"]
        if entry["event"] == PURGE_EVENT:
            purges.append(entry)
        if entry["seq"] != expected_seq:
            problems.append({"problem": "seq_gap" if entry["seq"] > expected_seq else "seq_before_anchor",
                             "seq": entry["seq"], "expected_seq": expected_seq})
        if entry["prev_hash"] != prev_hash:
            problems.append({"problem": "chain_broken", "seq": entry["seq"], "id": entry["id"]})
        if entry_hash(entry["prev_hash"], entry) != entry["hash"]:
            problems.append({"problem": "entry_altered", "seq": entry["seq"], "id": entry["id"]})
        if entry["mac"]:
            macs += 1
        else:
            unkeyed += 1
            if key is not None and entry["seq"] >= key["first_seq"]:
                problems.append({"problem": "mac_missing", "seq": entry["seq"], "id": entry["id"]})
        prev_hash, expected_seq = entry["hash"], entry["seq"] + 1
    last = expected_seq - 1
    high = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").fetchone()
    if high is not None and high[0] > last:
        problems.append({"problem": "tail_deleted", "last_seq": last, "highest_seq_issued": high[0]})
    if key is None and macs:
        problems.append({"problem": "key_missing", "macs": macs})
    elif key is not None and key["seq"] != last + 1 and not (count == 0 and key["seq"] > anchor_seq):
        problems.append({"problem": "tail_deleted" if key["seq"] > last + 1 else "key_behind_log",
                         "last_seq": last, "key_seq": key["seq"]})
    if not anchor_justified(anchor_seq, anchor_hash, legacy_anchor, purges):
        problems.append({"problem": "anchor_unjustified", "seq": anchor_seq})
    checkpoint_problems, checkpoints = _checkpoint_problems(conn, (anchor_seq, anchor_hash), hashes_by_seq)
    problems.extend(checkpoint_problems)
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
            "head_hash": prev_hash, "problems": problems,
            "mac": {"key": "provisioned" if key else "not provisioned (run `alpr-unit audit init-key`)",
                    "first_seq": key["first_seq"] if key else None, "entries_with_mac": macs,
                    "entries_hash_chain_only": unkeyed, "legacy_through_seq": legacy_last},
            "checkpoints_checked": checkpoints}


def purge_audit_prefix(conn: sqlite3.Connection, upto_seq: int, at: datetime, unit_id: str | None = None) -> int:
    """Delete entries up to `upto_seq` (already decided: synced and past their retention).

    The anchor moves first so the chain still verifies and the delete trigger lets these rows go; then
    an `audit_purged` entry (MACed like any other) names the new anchor: verify accepts no other move.
    Returns the number deleted. Runs inside the caller's transaction.
    """
    row = conn.execute("SELECT hash FROM audit_log WHERE seq = ?", (upto_seq,)).fetchone()
    if row is None:
        return 0
    previous = conn.execute("SELECT seq FROM audit_anchor WHERE id = 1").fetchone()
    conn.execute("UPDATE audit_anchor SET seq = ?, hash = ?, moved_at = ? WHERE id = 1",
                 (upto_seq, row[0], iso_utc(at)))
    conn.execute("DELETE FROM outbox WHERE kind = 'audit' AND record_id IN"
                 " (SELECT id FROM audit_log WHERE seq <= ?)", (upto_seq,))
    n = conn.execute("DELETE FROM audit_log WHERE seq <= ?", (upto_seq,)).rowcount
    if unit_id is None:
        unit = conn.execute("SELECT unit_id FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        unit_id = unit[0] if unit else ""
    append_audit(conn, unit_id=unit_id, event=PURGE_EVENT, at=at, user="system",
                 purpose="retention", detail={"upto_seq": upto_seq, "upto_hash": row[0], "purged": n,
                                              "previous_anchor_seq": previous[0] if previous else 0})
    return n
