"""Hit dispositions: what the officer found when verifying a hit.

A hit is never proof. The officer compares the plate photo with the read and the entry, confirms the
state, confirms the status with dispatch, and records the outcome here. Each disposition is audited
with the user and queued for sync; the agency's reports count successful uses from them.
`alpr-unit hit list|verify` is the technician/officer CLI; the in-car screen calls the same function.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from firmware.auth import add_login_arguments, cli_login
from firmware.cli import EXIT_FAILED, EXIT_OK, add_common, emit, load_unit_config
from firmware.clock import SystemClock, iso_utc
from firmware.retention.audit import append_audit
from firmware.retention.query import roster_allows
from firmware.storage import outbox

DISPOSITIONS = {
    "misread": "the plate in the photo is not the entry's plate",
    "state_mismatch": "same characters, different issuing state",
    "not_current": "dispatch says the entry is no longer valid",
    "not_located": "vehicle could not be located",
    "confirmed_no_action": "confirmed, no enforcement action taken",
    "confirmed_stop": "confirmed, vehicle stopped",
    "arrest": "confirmed, arrest made",
    "recovery": "confirmed, stolen vehicle or plate recovered",
}


class DispositionError(ValueError):
    pass


def record_disposition(conn: sqlite3.Connection, hit_id: str, *, disposition: str, user: str, at: datetime,
                       unit_id: str, note: str | None = None, amend: bool = False) -> dict:
    """Store the officer's finding on a hit (inside the caller's transaction), audit it and queue it."""
    if disposition not in DISPOSITIONS:
        raise DispositionError(f"unknown disposition {disposition!r}; one of {', '.join(DISPOSITIONS)}")
    if not user:
        raise DispositionError("a disposition needs the officer's user id")
    if not roster_allows(conn, user):
        raise DispositionError(f"user {user!r} is not an active user on the agency roster")
    row = conn.execute("SELECT id, read_id, disposition FROM hits WHERE id = ?", (hit_id,)).fetchone()
    if row is None:
        raise DispositionError(f"no hit {hit_id} on this unit")
    if row["disposition"] and not amend:
        raise DispositionError(f"hit {hit_id} already has disposition {row['disposition']!r} (use --amend)")
    conn.execute("UPDATE hits SET disposition = ?, disposed_by = ?, disposed_at = ?, disposition_note = ? WHERE id = ?",
                 (disposition, user, iso_utc(at), note, hit_id))
    detail = {"hit_id": hit_id, "read_id": row["read_id"], "disposition": disposition, "note": note,
              "previous": row["disposition"]}
    audit_id = append_audit(conn, unit_id=unit_id, event="hit_disposition", at=at, user=user, detail=detail)
    payload = {"schema": 1, "hit_id": hit_id, "read_id": row["read_id"], "disposition": disposition, "user": user,
               "at": iso_utc(at), "note": note, "audit_id": audit_id}
    outbox.enqueue(conn, "disposition", audit_id, payload, at)
    return payload


def pending_hits(conn: sqlite3.Connection, limit: int = 100) -> list[dict]:
    rows = conn.execute(
        "SELECT h.id, h.list_name, h.category, h.match, h.positions, h.entry_plate, h.entry_state, h.historical,"
        " h.disposition, r.plate, r.state, r.captured_at, r.crop_path, r.lat, r.lon FROM hits h"
        " JOIN reads r ON r.id = h.read_id ORDER BY h.disposition IS NOT NULL, r.captured_at DESC LIMIT ?",
        (limit,)).fetchall()
    return [{**dict(r), "positions": json.loads(r["positions"])} for r in rows]


def register(sub) -> None:
    hit = sub.add_parser("hit", help="list hits and record the officer's verification")
    hit_sub = hit.add_subparsers(dest="hit_command", required=True)
    listing = hit_sub.add_parser("list", help="hits on this unit, undisposed first")
    add_common(listing)
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--user", required=True, help="who is looking (the listing is audited)")
    add_login_arguments(listing)
    listing.set_defaults(func=_list)
    verify = hit_sub.add_parser("verify", help="record what the officer found")
    add_common(verify)
    verify.add_argument("hit_id")
    verify.add_argument("--disposition", required=True, choices=sorted(DISPOSITIONS))
    verify.add_argument("--user", required=True, help="the officer's own user id")
    verify.add_argument("--note", default=None)
    verify.add_argument("--amend", action="store_true", help="replace an earlier disposition (audited)")
    add_login_arguments(verify)
    verify.set_defaults(func=_verify)


def _open(args):
    from firmware.storage.db import open_database

    config = load_unit_config(args)
    return config, open_database(config.unit.data_dir)


def _logged_in(conn, args, config) -> bool:
    session = cli_login(conn, args, purpose="hit verification", unit_id=config.unit.id, at=SystemClock().utc(),
                        context={"command": f"hit {args.hit_command}"})
    if not session.ok:
        emit({"ok": False, "error": f"login refused for {args.user!r}: {session.message} (audited)"}, args.json)
    return session.ok


def _list(args) -> int:
    from firmware.storage.db import transaction

    config, conn = _open(args)
    if not _logged_in(conn, args, config):
        return EXIT_FAILED
    rows = pending_hits(conn, args.limit)
    transaction(conn, lambda c: append_audit(
        c, unit_id=config.unit.id, event="query", at=SystemClock().utc(), user=args.user,
        purpose="hit verification", detail={"terms": {"hits": "list", "limit": args.limit}, "results": len(rows)}))
    for row in rows:
        emit(row, args.json)
    return EXIT_OK


def _verify(args) -> int:
    from firmware.storage.db import transaction

    config, conn = _open(args)
    if not _logged_in(conn, args, config):
        return EXIT_FAILED
    try:
        result = transaction(conn, lambda c: record_disposition(
            c, args.hit_id, disposition=args.disposition, user=args.user, at=SystemClock().utc(),
            unit_id=config.unit.id, note=args.note, amend=args.amend))
    except DispositionError as exc:
        emit({"ok": False, "error": str(exc)}, args.json)
        return EXIT_FAILED
    emit({"ok": True, **result}, args.json)
    return EXIT_OK
