"""Preservation holds: the Data Retention Request Log.

A hold carries the fields of the preservation request form (form ALPR-1 under N.C.G.S. 20-183.32):
which unit and camera, which plate, which dates and times, the case, who asked, for which agency,
and the reference of the sworn statement or warrant. Held reads are exempt from every purge rule
until the hold expires (one year from its latest request) or is released. Rows are never deleted:
the table is the log an auditor asks for. Every change is audited.

These functions run inside the caller's transaction (the daemon's writer, a CLI `transaction`, or
the downlink handler), so a hold and its audit entry commit together.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from datetime import datetime, timedelta

from firmware.clock import iso_utc, parse_iso_utc
from firmware.retention.audit import append_audit
from firmware.retention.policy import HoldFacts, hold_expiry

FORM_FIELDS = ("kind", "unit_id", "camera_id", "plate", "start_at", "end_at", "case_number",
               "requesting_officer", "agency", "statement_ref", "parties", "source", "id")
REQUIRED = ("start_at", "end_at", "case_number", "requesting_officer", "agency", "statement_ref")
KINDS = ("preservation", "warrant")
MAX_RANGE = timedelta(days=366)
_PLATE = re.compile(r"[^A-Z0-9]")


class HoldError(ValueError):
    """The request cannot be recorded as given; the message says which field and why."""


def normalise_plate(plate: str) -> str:
    return _PLATE.sub("", plate.upper())


def _time(value, name: str) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise HoldError(f"{name}: a time zone is required (use UTC, e.g. 2026-01-02T03:04:05Z)")
        return value
    try:
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise HoldError(f"{name}: not an ISO-8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise HoldError(f"{name}: a time zone is required (use UTC, e.g. 2026-01-02T03:04:05Z)")
    return parsed


def validate_hold(hold: dict) -> dict:
    """Check and normalise a preservation form; returns the row to store (times as UTC ISO text)."""
    unknown = sorted(set(hold) - set(FORM_FIELDS))
    if unknown:
        raise HoldError(f"unknown field(s): {', '.join(unknown)}")
    missing = [k for k in REQUIRED if not str(hold.get(k) or "").strip()]
    if missing:
        raise HoldError(f"missing field(s): {', '.join(missing)}")
    kind = hold.get("kind") or "preservation"
    if kind not in KINDS:
        raise HoldError(f"kind: must be one of {', '.join(KINDS)}")
    plate = normalise_plate(hold["plate"]) if hold.get("plate") else None
    if kind == "preservation" and not plate:
        raise HoldError("plate: a preservation request names the particular plate to preserve")
    start, end = _time(hold["start_at"], "start_at"), _time(hold["end_at"], "end_at")
    if end < start:
        raise HoldError("end_at is before start_at")
    if end - start > MAX_RANGE:
        raise HoldError("the date range of one request is at most a year")
    return {
        "id": str(hold.get("id") or uuid.uuid4()), "kind": kind,
        "unit_id": (hold.get("unit_id") or None), "camera_id": (hold.get("camera_id") or None), "plate": plate,
        "start_at": iso_utc(start), "end_at": iso_utc(end),
        **{k: str(hold[k]).strip() for k in ("case_number", "requesting_officer", "agency", "statement_ref")},
        "parties": (str(hold["parties"]).strip() if hold.get("parties") else None),
        "source": hold.get("source") or "cli",
    }


def add_hold(conn: sqlite3.Connection, hold: dict, *, at: datetime, unit_id: str, user: str | None,
             days: int = 365) -> str:
    """Record a preservation request or warrant; returns its id. The same id twice is an error."""
    row = validate_hold(hold)
    if conn.execute("SELECT 1 FROM holds WHERE id = ?", (row["id"],)).fetchone():
        raise HoldError(f"hold {row['id']} already exists (renew it instead)")
    row.update(created_at=iso_utc(at), created_by=user, expires_at=iso_utc(hold_expiry(at, days)))
    conn.execute(
        f"INSERT INTO holds ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})", row
    )
    append_audit(conn, unit_id=unit_id, event="hold_add", at=at, user=user, purpose="preservation",
                 detail={k: row[k] for k in ("id", "kind", "plate", "camera_id", "start_at", "end_at",
                                             "case_number", "agency", "statement_ref", "expires_at")})
    return row["id"]


def _get(conn: sqlite3.Connection, hold_id: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM holds WHERE id = ?", (hold_id,)).fetchone()
    if row is None:
        raise HoldError(f"no hold {hold_id}")
    return row


def renew_hold(conn: sqlite3.Connection, hold_id: str, *, at: datetime, unit_id: str, user: str | None,
               statement_ref: str | None = None, days: int = 365) -> dict:
    """A new request for the same data: the year starts again from `at`. Expired or released: refused."""
    row = _get(conn, hold_id)
    if row["released_at"] is not None:
        raise HoldError(f"hold {hold_id} was released; record a new request instead")
    if parse_iso_utc(row["expires_at"]) <= at:
        raise HoldError(f"hold {hold_id} expired at {row['expires_at']}; record a new request instead")
    expires = iso_utc(hold_expiry(at, days))
    conn.execute(
        "UPDATE holds SET renewed_at = ?, renewals = renewals + 1, expires_at = ?,"
        " statement_ref = coalesce(?, statement_ref) WHERE id = ?",
        (iso_utc(at), expires, statement_ref, hold_id),
    )
    append_audit(conn, unit_id=unit_id, event="hold_renew", at=at, user=user, purpose="preservation",
                 detail={"id": hold_id, "case_number": row["case_number"], "expires_at": expires,
                         "statement_ref": statement_ref or row["statement_ref"]})
    return hold_dict(_get(conn, hold_id), at)


def release_hold(conn: sqlite3.Connection, hold_id: str, *, at: datetime, unit_id: str, user: str | None,
                 reason: str | None = None) -> dict:
    """The data is no longer needed: held reads fall back under the ordinary rule at the next purge."""
    row = _get(conn, hold_id)
    if row["released_at"] is not None:
        raise HoldError(f"hold {hold_id} was already released at {row['released_at']}")
    conn.execute("UPDATE holds SET released_at = ?, released_by = ?, release_reason = ? WHERE id = ?",
                 (iso_utc(at), user, reason, hold_id))
    append_audit(conn, unit_id=unit_id, event="hold_release", at=at, user=user, purpose="preservation",
                 detail={"id": hold_id, "case_number": row["case_number"], "reason": reason})
    return hold_dict(_get(conn, hold_id), at)


def hold_status(row, now: datetime) -> str:
    if row["released_at"] is not None:
        return "released"
    return "active" if parse_iso_utc(row["expires_at"]) > now else "expired"


def hold_dict(row: sqlite3.Row, now: datetime) -> dict:
    return {**dict(row), "status": hold_status(row, now)}


def list_holds(conn: sqlite3.Connection, now: datetime, status: str | None = None) -> list[dict]:
    rows = [hold_dict(r, now) for r in conn.execute("SELECT * FROM holds ORDER BY created_at, id")]
    return [r for r in rows if status is None or r["status"] == status]


def _opt_time(value: str | None) -> datetime | None:
    return parse_iso_utc(value) if value else None


def hold_facts(conn: sqlite3.Connection) -> list[HoldFacts]:
    """Every hold, as the pure retention rule wants them (it decides which are active)."""
    return [
        HoldFacts(id=r["id"], start_at=parse_iso_utc(r["start_at"]), end_at=parse_iso_utc(r["end_at"]),
                  expires_at=parse_iso_utc(r["expires_at"]), plate=r["plate"], camera_id=r["camera_id"],
                  unit_id=r["unit_id"], released_at=_opt_time(r["released_at"]))
        for r in conn.execute("SELECT * FROM holds")
    ]
