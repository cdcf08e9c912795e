"""Expired manual hotlist entries leave the unit after a grace period.

Concord GO 09.21.5 A.6: a manually entered plate stays 30 days unless extended with justification,
and is removed once no longer needed. An expired entry already stops matching; it is deleted
(secure_delete is on) `retention.manual_entry_grace_days` after it expired, so an officer who meant
to extend it has time to notice, and the plate does not sit in the database for ever. Each list's
deletions are one new list version and one audit entry naming the entries (the audit log is where
plates may remain). Runs inside the caller's transaction (a purge job).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from firmware.clock import iso_utc
from firmware.hotlist.store import _new_version
from firmware.retention.audit import append_audit


def expired_manual_entries(conn: sqlite3.Connection, before: str) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT e.id, e.list_id, l.name AS list_name, e.plate, e.state, e.expires_at, e.added_by FROM hotlist_entries e"
        " JOIN hotlists l ON l.id = e.list_id WHERE l.source = 'manual' AND e.expires_at IS NOT NULL"
        " AND e.expires_at < ? ORDER BY e.list_id, e.id", (before,)).fetchall()


def delete_expired_manual(conn: sqlite3.Connection, *, at: datetime, grace: timedelta, unit_id: str,
                          dry_run: bool = False) -> int:
    """Delete manual entries that expired more than `grace` before `at`; returns how many."""
    doomed = expired_manual_entries(conn, iso_utc(at - grace))
    if dry_run or not doomed:
        return len(doomed)
    by_list: dict[int, list[sqlite3.Row]] = {}
    for row in doomed:
        by_list.setdefault(row["list_id"], []).append(row)
    for list_id, rows in by_list.items():
        ids = [r["id"] for r in rows]
        conn.execute(f"DELETE FROM hotlist_entries WHERE id IN ({','.join('?' * len(ids))})", ids)
        list_row = conn.execute("SELECT * FROM hotlists WHERE id = ?", (list_id,)).fetchone()
        version, _ = _new_version(conn, list_row, mode="manual-remove", at=at, sha256=None, file_name=None,
                                  report={"expired_entries_deleted": ids})
        append_audit(conn, unit_id=unit_id, event="hotlist.manual.expired_deleted", at=at, user="system",
                     purpose="retention", detail={
                         "list": rows[0]["list_name"], "version": version, "grace_days": grace.total_seconds() / 86400,
                         "entries": [{"entry_id": r["id"], "plate": r["plate"], "state": r["state"],
                                      "expired_at": r["expires_at"], "added_by": r["added_by"]} for r in rows]})
    return len(doomed)
