"""Preservation holds: the Data Retention Request Log.

A hold carries the fields of the preservation request form (form ALPR-1 under N.C.G.S. 20-183.32):
which unit and camera, which plate, which dates and times, the case, who asked, for which agency,
and the reference of the sworn statement or warrant. Held reads are exempt from every purge rule
until the hold expires (one year from its latest request) or is released. Rows are never deleted
or changed (triggers refuse it): a renewal or release is a new `hold_events` row, so the table is
the log an auditor asks for, as it was written. Every change is audited.

These functions run inside the caller's transaction (the daemon's writer, a CLI `transaction`, or
the downlink handler), so a hold and its audit entry commit together.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from datetime import datetime, timedelta

from firmware.clock import TimeTextError, iso_utc, parse_iso_utc, parse_typed_time
from firmware.ids import new_id
from firmware.retention.audit import append_audit
from firmware.retention.policy import HoldFacts, hold_expiry

FORM_FIELDS = ("kind", "unit_id", "camera_id", "plate", "start_at", "end_at", "case_number",
               "requesting_officer", "agency", "statement_ref", "parties", "facts", "source", "id")
REQUIRED = ("start_at", "end_at", "case_number", "requesting_officer", "agency", "statement_ref", "facts")
KINDS = ("preservation", "warrant")
MAX_RANGE = timedelta(days=366)
DEFAULT_MAX_WINDOW = timedelta(hours=72)   # retention.hold_max_window_hours: a hold without a plate
MIN_FACTS_CHARS, MIN_FACTS_WORDS = 20, 4
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
        return parse_typed_time(str(value), dates=False)
    except TimeTextError as exc:
        raise HoldError(f"{name}: {exc}") from None


def facts_problem(text: str | None) -> str | None:
    """Pure: why a statement of facts is not one (form ALPR-1 (c): specific and articulable facts)."""
    words = (text or "").split()
    if len((text or "").strip()) < MIN_FACTS_CHARS or len(words) < MIN_FACTS_WORDS:
        return (f"facts: state the specific and articulable facts that make the data relevant and material"
                f" (at least {MIN_FACTS_WORDS} words, {MIN_FACTS_CHARS} characters)")
    return None


def validate_hold(hold: dict, *, unit_id: str | None = None, max_window: timedelta = DEFAULT_MAX_WINDOW) -> dict:
    """Check and normalise a preservation form; returns the row to store (times as UTC ISO text).

    A hold names a plate, or a camera and a window of at most `max_window`: a hold on everything this
    unit saw would stop the purge wholesale. It names this unit (or none): a hold for another unit's
    data would show "active" here and protect nothing.
    """
    unknown = sorted(set(hold) - set(FORM_FIELDS))
    if unknown:
        raise HoldError(f"unknown field(s): {', '.join(unknown)}")
    missing = [k for k in REQUIRED if not str(hold.get(k) or "").strip()]
    if missing:
        raise HoldError(f"missing field(s): {', '.join(missing)}")
    kind = hold.get("kind") or "preservation"
    if kind not in KINDS:
        raise HoldError(f"kind: must be one of {', '.join(KINDS)}")
    problem = facts_problem(str(hold["facts"]))
    if problem:
        raise HoldError(problem)
    if len(str(hold["statement_ref"]).strip()) < 3 or not any(c.isalnum() for c in str(hold["statement_ref"])):
        raise HoldError("statement_ref: give the reference of the sworn statement, form ALPR-1 or warrant")
    if kind == "preservation" and not str(hold.get("parties") or "").strip():
        raise HoldError("parties: form ALPR-1 (d) names the case and the identity of the parties")
    held_unit = str(hold.get("unit_id") or "").strip() or None
    if unit_id is not None and held_unit not in (None, unit_id):
        raise HoldError(f"unit_id: the request names unit {held_unit!r}; this is unit {unit_id!r}")
    plate = normalise_plate(hold["plate"]) if hold.get("plate") else None
    camera = str(hold.get("camera_id") or "").strip() or None
    start, end = _time(hold["start_at"], "start_at"), _time(hold["end_at"], "end_at")
    if end < start:
        raise HoldError("end_at is before start_at")
    if end - start > MAX_RANGE:
        raise HoldError("the date range of one request is at most a year")
    if not plate:
        if not camera:
            raise HoldError("plate: name the plate to preserve, or a camera and a time window")
        if end - start > max_window:
            raise HoldError(f"without a plate the time window is at most {max_window.total_seconds() / 3600:g} hours"
                            " (retention.hold_max_window_hours)")
    return {
        "id": str(hold.get("id") or uuid.uuid4()), "kind": kind,
        "unit_id": held_unit or unit_id, "camera_id": camera, "plate": plate,
        "start_at": iso_utc(start), "end_at": iso_utc(end),
        **{k: str(hold[k]).strip() for k in ("case_number", "requesting_officer", "agency", "statement_ref", "facts")},
        "parties": (str(hold["parties"]).strip() if hold.get("parties") else None),
        "source": hold.get("source") or "cli",
    }


def _bound_unit(conn: sqlite3.Connection) -> str | None:
    """The unit id the data dir was created for (migration 0007, access), when it records one."""
    try:
        row = conn.execute("SELECT unit_id FROM unit_identity WHERE id = 1").fetchone()
    except sqlite3.OperationalError:
        return None
    return row[0] if row else None


def coverage(conn: sqlite3.Connection, row: dict) -> dict:
    """How many stored reads and image files the hold covers now (told to whoever adds it)."""
    where, params = ["captured_at >= ?", "captured_at <= ?"], [row["start_at"], row["end_at"]]
    for column in ("plate", "camera_id", "unit_id"):
        if row.get(column):
            where.append(f"{column} = ?")
            params.append(row[column])
    reads, images = conn.execute(
        "SELECT count(*), coalesce(sum((crop_path IS NOT NULL) + (overview_path IS NOT NULL)), 0) FROM reads"
        f" WHERE {' AND '.join(where)}", params).fetchone()
    return {"reads": reads, "images": images}


def add_hold(conn: sqlite3.Connection, hold: dict, *, at: datetime, unit_id: str, user: str | None,
             days: int = 365, max_window: timedelta = DEFAULT_MAX_WINDOW) -> str:
    """Record a preservation request or warrant; returns its id. The same id twice is an error."""
    bound = _bound_unit(conn)
    if bound is not None and bound != unit_id:
        raise HoldError(f"this data dir belongs to unit {bound!r}, not {unit_id!r}: a hold here would protect nothing")
    row = validate_hold(hold, unit_id=unit_id, max_window=max_window)
    if conn.execute("SELECT 1 FROM holds WHERE id = ?", (row["id"],)).fetchone():
        raise HoldError(f"hold {row['id']} already exists (renew it instead)")
    covered = coverage(conn, row)
    row.update(created_at=iso_utc(at), created_by=user, expires_at=iso_utc(hold_expiry(at, days)),
               covered_reads=covered["reads"], covered_images=covered["images"])
    conn.execute(
        f"INSERT INTO holds ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})", row
    )
    append_audit(conn, unit_id=unit_id, event="hold_add", at=at, user=user, purpose="preservation",
                 detail={**{k: row[k] for k in ("id", "kind", "plate", "camera_id", "start_at", "end_at",
                                                "case_number", "agency", "statement_ref", "expires_at", "facts")},
                         "covers": covered})
    return row["id"]


def _events(conn: sqlite3.Connection, hold_id: str) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM hold_events WHERE hold_id = ? ORDER BY at, rowid", (hold_id,)).fetchall()


def _effective(row: sqlite3.Row, events: list) -> dict:
    """The hold as its events leave it: the latest renewal's expiry, the first release."""
    out = dict(row)
    for e in events:
        if e["action"] == "renew":
            out.update(renewed_at=e["at"], renewals=out["renewals"] + 1, expires_at=e["expires_at"],
                       statement_ref=e["statement_ref"] or out["statement_ref"])
        elif e["action"] == "release" and out["released_at"] is None:
            out.update(released_at=e["at"], released_by=e["user"], release_reason=e["reason"])
    return out


def _get(conn: sqlite3.Connection, hold_id: str) -> dict:
    row = conn.execute("SELECT * FROM holds WHERE id = ?", (hold_id,)).fetchone()
    if row is None:
        raise HoldError(f"no hold {hold_id}")
    return _effective(row, _events(conn, hold_id))


def _event(conn: sqlite3.Connection, hold_id: str, *, action: str, at: datetime, user: str | None, source: str,
           statement_ref: str | None = None, reason: str | None = None, expires_at: str | None = None) -> None:
    conn.execute("INSERT INTO hold_events (id, hold_id, at, action, user, statement_ref, reason, expires_at, source)"
                 " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (new_id(), hold_id, iso_utc(at), action, user, statement_ref, reason, expires_at, source))


def renew_hold(conn: sqlite3.Connection, hold_id: str, *, at: datetime, unit_id: str, user: str | None,
               statement_ref: str | None = None, days: int = 365, source: str = "cli") -> dict:
    """A new request for the same data: the year starts again from `at`. Expired or released: refused."""
    row = _get(conn, hold_id)
    if row["released_at"] is not None:
        raise HoldError(f"hold {hold_id} was released; record a new request instead")
    if parse_iso_utc(row["expires_at"]) <= at:
        raise HoldError(f"hold {hold_id} expired at {row['expires_at']}; record a new request instead")
    expires = iso_utc(hold_expiry(at, days))
    _event(conn, hold_id, action="renew", at=at, user=user, source=source, statement_ref=statement_ref,
           expires_at=expires)
    append_audit(conn, unit_id=unit_id, event="hold_renew", at=at, user=user, purpose="preservation",
                 detail={"id": hold_id, "case_number": row["case_number"], "expires_at": expires,
                         "statement_ref": statement_ref or row["statement_ref"]})
    return hold_dict(_get(conn, hold_id), at)


def release_hold(conn: sqlite3.Connection, hold_id: str, *, at: datetime, unit_id: str, user: str | None,
                 reason: str | None = None, source: str = "cli") -> dict:
    """The data is no longer needed: held reads fall back under the ordinary rule at the next purge."""
    row = _get(conn, hold_id)
    if row["released_at"] is not None:
        raise HoldError(f"hold {hold_id} was already released at {row['released_at']}")
    _event(conn, hold_id, action="release", at=at, user=user, source=source, reason=reason)
    append_audit(conn, unit_id=unit_id, event="hold_release", at=at, user=user, purpose="preservation",
                 detail={"id": hold_id, "case_number": row["case_number"], "reason": reason})
    return hold_dict(_get(conn, hold_id), at)


def hold_status(row, now: datetime) -> str:
    if row["released_at"] is not None:
        return "released"
    return "active" if parse_iso_utc(row["expires_at"]) > now else "expired"


def hold_dict(row: dict, now: datetime) -> dict:
    return {**dict(row), "status": hold_status(row, now)}


def all_holds(conn: sqlite3.Connection) -> list[dict]:
    """Every hold with its events applied, oldest first."""
    events: dict[str, list] = {}
    for e in conn.execute("SELECT * FROM hold_events ORDER BY at, rowid"):
        events.setdefault(e["hold_id"], []).append(e)
    return [_effective(r, events.get(r["id"], [])) for r in conn.execute("SELECT * FROM holds ORDER BY created_at, id")]


def list_holds(conn: sqlite3.Connection, now: datetime, status: str | None = None) -> list[dict]:
    rows = [hold_dict(r, now) for r in all_holds(conn)]
    return [r for r in rows if status is None or r["status"] == status]


def _opt_time(value: str | None) -> datetime | None:
    return parse_iso_utc(value) if value else None


def hold_facts(conn: sqlite3.Connection) -> list[HoldFacts]:
    """Every hold, as the pure retention rule wants them (it decides which are active)."""
    return [
        HoldFacts(id=r["id"], start_at=parse_iso_utc(r["start_at"]), end_at=parse_iso_utc(r["end_at"]),
                  expires_at=parse_iso_utc(r["expires_at"]), plate=r["plate"], camera_id=r["camera_id"],
                  unit_id=r["unit_id"], released_at=_opt_time(r["released_at"]))
        for r in all_holds(conn)
    ]
