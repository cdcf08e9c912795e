"""Hit verification as steps the record can prove: checks, a disposition, an outcome.

A hit is never proof (../shared/seeds, both orders). Before acting the officer (a) compares the plate
characters in the photo with the entry, (b) compares the state, (c) confirms the entry's status with
dispatch. Each of these is recorded as a stamped check; then a disposition from the agency's list
(reject reasons or a confirmation) and, later, an outcome (arrest, seizure, recovery) that the annual
report counts. The rules a record must satisfy live here as plain functions (`disposition_problem`,
`outcome_problem`, `amend_problem`, `hit_status`) so the screen and the CLI enforce exactly the same thing.

Storage: append-only rows (`hit_checks`, `hit_dispositions`, `hit_outcomes`, migration 0006); every row is
audited and queued for sync (outbox kind `disposition`, record id `<hit_id>:<type>:<row id>` so the purge
finds it with its read). `hits.disposition` mirrors the latest disposition for older readers.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta

from firmware.clock import iso_utc, parse_iso_utc
from firmware.ids import new_id
from firmware.retention.audit import append_audit
from firmware.retention.query import roster_allows
from firmware.storage import outbox

CHECKS = {
    "plate": {"label": "Plate characters in the photo match the entry", "results": ("match", "mismatch")},
    "state": {"label": "Plate state matches the entry", "results": ("match", "mismatch", "not_visible")},
    "dispatch": {"label": "Status confirmed with dispatch", "results": ("confirmed", "not_confirmed", "not_current")},
}

DISPOSITIONS = {
    "misread": {"label": "Misread: the plate is not the entry's plate", "kind": "reject", "needs_note": False},
    "state_mismatch": {"label": "Wrong state", "kind": "reject", "needs_note": False},
    "not_the_vehicle": {"label": "Not the vehicle (make, model or colour differ)", "kind": "reject", "needs_note": False},
    "not_current": {"label": "Not current: dispatch says the entry is no longer valid", "kind": "reject",
                    "needs_note": False},
    "not_located": {"label": "Vehicle could not be located", "kind": "none", "needs_note": False},
    "other": {"label": "Other (note required)", "kind": "reject", "needs_note": True},
    "confirmed_stop": {"label": "Confirmed: vehicle stopped", "kind": "confirm", "needs_note": False},
    "confirmed_no_action": {"label": "Confirmed: no enforcement action", "kind": "confirm", "needs_note": False},
}

OUTCOMES = {
    "arrest": "Arrest made",
    "seizure": "Property or vehicle seized",
    "recovery": "Stolen vehicle or plate recovered",
}

AMEND_ROLES = frozenset({"supervisor", "administrator", "admin"})
MIN_NOTE = 3   # characters a required note or amendment reason must have


class DispositionError(ValueError):
    """Why a verification step was refused, in words fit for the officer."""


# --- pure rules --------------------------------------------------------------------------------------------
def latest_checks(checks: list[dict]) -> dict[str, str]:
    """The result that counts for each check: the latest recorded (rows in time order)."""
    out: dict[str, str] = {}
    for row in checks:
        out[row["check_name"]] = row["result"]
    return out


def disposition_problem(disposition: str, checks: dict[str, str], note: str | None) -> str | None:
    """Why `disposition` cannot be recorded given the checks so far, or None."""
    spec = DISPOSITIONS.get(disposition)
    if spec is None:
        return f"unknown disposition {disposition!r}; one of {', '.join(DISPOSITIONS)}"
    if spec["needs_note"] and len((note or "").strip()) < MIN_NOTE:
        return f"disposition {disposition!r} needs a note saying why"
    if spec["kind"] == "confirm":
        missing = [name for name, want in (("plate", "match"), ("state", "match"), ("dispatch", "confirmed"))
                   if checks.get(name) != want]
        if missing:
            return ("a confirmation needs the plate and state checked as matching and the status confirmed with "
                    f"dispatch first (missing: {', '.join(missing)})")
    return None


def outcome_problem(outcome: str, checks: dict[str, str], latest_disposition: str | None) -> str | None:
    if outcome not in OUTCOMES:
        return f"unknown outcome {outcome!r}; one of {', '.join(OUTCOMES)}"
    if checks.get("dispatch") != "confirmed":
        return "an outcome needs the status confirmed with dispatch first"
    if latest_disposition is None or DISPOSITIONS.get(latest_disposition, {}).get("kind") != "confirm":
        return "an outcome needs a confirmed disposition (confirmed_stop or confirmed_no_action) first"
    return None


def amend_problem(user: str, roles: frozenset[str], decided_by: str, reason: str | None) -> str | None:
    """Only the deciding officer or a supervisor may amend a disposition, and must say why."""
    if user != decided_by and not (roles & AMEND_ROLES):
        return f"only {decided_by!r} (who decided) or a supervisor may amend this disposition"
    if len((reason or "").strip()) < MIN_NOTE:
        return "an amendment needs a reason"
    return None


def hit_status(*, disposition: str | None, checks: int, unacknowledged_at: str | None, created_at: datetime,
               now: datetime, unacknowledged_after: timedelta) -> str:
    """disposed | in_verification | unacknowledged | new. A hit nobody answers is never auto-rejected."""
    if disposition:
        return "disposed"
    if checks:
        return "in_verification"
    if unacknowledged_at or now - created_at >= unacknowledged_after:
        return "unacknowledged"
    return "new"


# --- storage -----------------------------------------------------------------------------------------------
def _hit(conn: sqlite3.Connection, hit_id: str) -> sqlite3.Row:
    row = conn.execute("SELECT id, read_id, disposition, disposed_by FROM hits WHERE id = ?", (hit_id,)).fetchone()
    if row is None:
        raise DispositionError(f"no hit {hit_id} on this unit")
    return row


def _roles(conn: sqlite3.Connection, user: str) -> frozenset[str]:
    try:
        row = conn.execute("SELECT roles FROM roster WHERE user_id = ?", (user,)).fetchone()
    except sqlite3.OperationalError:
        return frozenset()
    return frozenset(json.loads(row[0])) if row and row[0] else frozenset()


def _require_user(conn: sqlite3.Connection, user: str) -> None:
    if not (user or "").strip():
        raise DispositionError("a verification step needs the officer's user id")
    if not roster_allows(conn, user):
        raise DispositionError(f"user {user!r} is not an active user on the agency roster")


def _checks(conn: sqlite3.Connection, hit_id: str) -> list[dict]:
    return [dict(r) for r in conn.execute(
        "SELECT id, check_name, result, note, user, at FROM hit_checks WHERE hit_id = ? ORDER BY at, rowid", (hit_id,))]


def _record(conn: sqlite3.Connection, table: str, hit: sqlite3.Row, row: dict, *, event: str, unit_id: str,
            at: datetime, purpose: str = "hit verification") -> dict:
    """Insert one append-only row, audit it and queue it: the three writes commit together."""
    row = {"id": new_id(), "hit_id": hit["id"], **row, "at": iso_utc(at)}
    detail = {"hit_id": hit["id"], "read_id": hit["read_id"], **{k: v for k, v in row.items()
                                                                  if k not in ("id", "hit_id", "user", "at")}}
    row["audit_id"] = append_audit(conn, unit_id=unit_id, event=event, at=at, user=row["user"], purpose=purpose,
                                   detail=detail)
    cols = ", ".join(row)
    conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({', '.join(':' + c for c in row)})", row)
    kind = table.removeprefix("hit_").removesuffix("s")   # check | disposition | outcome
    payload = {"schema": 2, "type": kind, "read_id": hit["read_id"], "unit_id": unit_id, **row}
    outbox.enqueue(conn, "disposition", f"{hit['id']}:{kind}:{row['id']}", payload, at)
    return payload


def record_check(conn: sqlite3.Connection, hit_id: str, *, check: str, result: str, user: str, at: datetime,
                 unit_id: str, note: str | None = None) -> dict:
    """One verification step (inside the caller's transaction). A later check of the same kind supersedes it."""
    spec = CHECKS.get(check)
    if spec is None:
        raise DispositionError(f"unknown check {check!r}; one of {', '.join(CHECKS)}")
    if result not in spec["results"]:
        raise DispositionError(f"check {check!r} takes one of {', '.join(spec['results'])}, not {result!r}")
    _require_user(conn, user)
    hit = _hit(conn, hit_id)
    return _record(conn, "hit_checks", hit, {"check_name": check, "result": result, "note": note, "user": user},
                   event="hit_check", unit_id=unit_id, at=at)


def record_disposition(conn: sqlite3.Connection, hit_id: str, *, disposition: str, user: str, at: datetime,
                       unit_id: str, note: str | None = None, amend: bool = False,
                       amend_reason: str | None = None) -> dict:
    """The officer's finding (inside the caller's transaction). A second one is an amendment: history kept."""
    _require_user(conn, user)
    hit = _hit(conn, hit_id)
    problem = disposition_problem(disposition, latest_checks(_checks(conn, hit_id)), note)
    if problem:
        raise DispositionError(problem)
    previous = conn.execute("SELECT id, disposition, user FROM hit_dispositions WHERE hit_id = ? ORDER BY at DESC,"
                            " rowid DESC LIMIT 1", (hit_id,)).fetchone()
    decided_by = previous["user"] if previous else hit["disposed_by"]
    if previous or hit["disposition"]:
        if not amend:
            raise DispositionError(f"hit {hit_id} already has disposition {hit['disposition']!r} (amend it, with a "
                                   "reason)")
        problem = amend_problem(user, _roles(conn, user), decided_by or "", amend_reason or note)
        if problem:
            raise DispositionError(problem)
    payload = _record(conn, "hit_dispositions", hit, {
        "disposition": disposition, "kind": DISPOSITIONS[disposition]["kind"], "note": note,
        "amends": previous["id"] if previous else None,
        "amend_reason": (amend_reason or note) if (previous or hit["disposition"]) else None, "user": user,
    }, event="hit_disposition", unit_id=unit_id, at=at)
    conn.execute("UPDATE hits SET disposition = ?, disposed_by = ?, disposed_at = ?, disposition_note = ?"
                 " WHERE id = ?", (disposition, user, iso_utc(at), note, hit_id))
    return {**payload, "previous": hit["disposition"]}


def record_outcome(conn: sqlite3.Connection, hit_id: str, *, outcome: str, user: str, at: datetime, unit_id: str,
                   note: str | None = None) -> dict:
    """What came of a confirmed hit (arrest, seizure, recovery); needs dispatch's confirmation on record."""
    _require_user(conn, user)
    hit = _hit(conn, hit_id)
    problem = outcome_problem(outcome, latest_checks(_checks(conn, hit_id)), hit["disposition"])
    if problem:
        raise DispositionError(problem)
    return _record(conn, "hit_outcomes", hit, {"outcome": outcome, "note": note, "user": user},
                   event="hit_outcome", unit_id=unit_id, at=at)


def mark_unacknowledged(conn: sqlite3.Connection, *, now: datetime, after: timedelta, unit_id: str) -> list[str]:
    """Hits shown in the car that nobody answered within `after` become 'unacknowledged' (once, audited,
    synced). They stay open on the screen until answered; nothing is ever rejected on the officer's behalf."""
    cutoff = iso_utc(now - after)
    rows = conn.execute(
        "SELECT h.id, h.read_id FROM hits h WHERE h.disposition IS NULL AND h.unacknowledged_at IS NULL"
        " AND h.historical = 0 AND h.alert != 'silent' AND h.created_at <= ?"
        " AND NOT EXISTS (SELECT 1 FROM hit_checks c WHERE c.hit_id = h.id)", (cutoff,)).fetchall()
    for row in rows:
        conn.execute("UPDATE hits SET unacknowledged_at = ? WHERE id = ?", (iso_utc(now), row["id"]))
        audit_id = append_audit(conn, unit_id=unit_id, event="hit_unacknowledged", at=now, detail={
            "hit_id": row["id"], "read_id": row["read_id"], "after_s": after.total_seconds()})
        outbox.enqueue(conn, "disposition", f"{row['id']}:unacknowledged:{audit_id}", {
            "schema": 2, "type": "unacknowledged", "hit_id": row["id"], "read_id": row["read_id"],
            "unit_id": unit_id, "at": iso_utc(now), "audit_id": audit_id}, now)
    return [r["id"] for r in rows]


# --- views for the screen and the CLI ---------------------------------------------------------------------
_HIT_COLUMNS = ("h.id, h.read_id, h.list_name, h.list_version, h.list_age_s, h.entry_plate, h.entry_state, h.category,"
                " h.priority, h.match, h.positions, h.possible, h.alert, h.historical, h.created_at, h.disposition,"
                " h.disposed_by, h.disposed_at, h.annotations, h.unacknowledged_at, r.plate, r.state AS read_state,"
                " r.confidence, r.captured_at, r.camera_id, r.crop_path, r.overview_path, r.lat, r.lon,"
                " r.position_method")


def _hit_view(row: sqlite3.Row, *, now: datetime, unacknowledged_after: timedelta, checks: int) -> dict:
    view = dict(row)
    view["positions"] = json.loads(view["positions"] or "[]")
    view["annotations"] = json.loads(view["annotations"] or "{}")
    view["possible"] = bool(view["possible"])
    view["historical"] = bool(view["historical"])
    view["status"] = hit_status(disposition=view["disposition"], checks=checks,
                                unacknowledged_at=view["unacknowledged_at"], created_at=parse_iso_utc(view["created_at"]),
                                now=now, unacknowledged_after=unacknowledged_after)
    return view


def find_hit_id(conn: sqlite3.Connection, prefix: str) -> str:
    """A full hit id from a unique prefix (people type the first characters)."""
    prefix = (prefix or "").strip().lower()
    if len(prefix) < 4:
        raise DispositionError("give at least the first 4 characters of the hit id")
    rows = conn.execute("SELECT id FROM hits WHERE id >= ? AND id < ? LIMIT 2", (prefix, prefix + "\uffff")).fetchall()
    if not rows:
        raise DispositionError(f"no hit {prefix} on this unit")
    if len(rows) > 1:
        raise DispositionError(f"hit id prefix {prefix!r} is not unique; give more characters")
    return rows[0][0]


def hit_detail(conn: sqlite3.Connection, hit_id: str, *, now: datetime,
               unacknowledged_after: timedelta = timedelta(minutes=5)) -> dict:
    """Everything the officer needs to judge one hit, and everything recorded about it so far."""
    row = conn.execute(f"SELECT {_HIT_COLUMNS} FROM hits h JOIN reads r ON r.id = h.read_id WHERE h.id = ?",
                       (hit_id,)).fetchone()
    if row is None:
        raise DispositionError(f"no hit {hit_id} on this unit")
    checks = _checks(conn, hit_id)
    view = _hit_view(row, now=now, unacknowledged_after=unacknowledged_after, checks=len(checks))
    view["checks"] = checks
    view["checks_latest"] = latest_checks(checks)
    view["dispositions"] = [dict(r) for r in conn.execute(
        "SELECT id, disposition, kind, note, amends, amend_reason, user, at FROM hit_dispositions WHERE hit_id = ?"
        " ORDER BY at, rowid", (hit_id,))]
    view["outcomes"] = [dict(r) for r in conn.execute(
        "SELECT id, outcome, note, user, at FROM hit_outcomes WHERE hit_id = ? ORDER BY at, rowid", (hit_id,))]
    return view


def _hit_views(conn: sqlite3.Connection, *, where: str, order: str, now: datetime, limit: int,
               unacknowledged_after: timedelta) -> list[dict]:
    rows = conn.execute(
        f"SELECT {_HIT_COLUMNS}, (SELECT count(*) FROM hit_checks c WHERE c.hit_id = h.id) AS n_checks"
        f" FROM hits h JOIN reads r ON r.id = h.read_id {where} ORDER BY {order} LIMIT ?", (limit,)).fetchall()
    views = [_hit_view(row, now=now, unacknowledged_after=unacknowledged_after, checks=row["n_checks"])
             for row in rows]
    for view in views:
        view.pop("n_checks", None)
    return views


def open_hits(conn: sqlite3.Connection, *, now: datetime, limit: int = 100,
              unacknowledged_after: timedelta = timedelta(minutes=5)) -> list[dict]:
    """Hits the officer still has to answer: shown in the car, no disposition yet; highest priority
    (lowest number) first, then newest. Covert lists and historical matches are not here."""
    return _hit_views(conn, where="WHERE h.disposition IS NULL AND h.alert != 'silent' AND h.historical = 0",
                      order="h.priority, h.created_at DESC", now=now, limit=limit,
                      unacknowledged_after=unacknowledged_after)


def all_hits(conn: sqlite3.Connection, *, now: datetime, limit: int = 100,
             unacknowledged_after: timedelta = timedelta(minutes=5)) -> list[dict]:
    """Every hit on the unit, unanswered first (the CLI's `hit list`)."""
    return _hit_views(conn, where="", order="h.disposition IS NOT NULL, h.priority, h.created_at DESC", now=now,
                      limit=limit, unacknowledged_after=unacknowledged_after)


def choices() -> dict:
    """The labels the screen and the CLI offer, from the one set of tables above."""
    return {"checks": CHECKS, "dispositions": DISPOSITIONS, "outcomes": OUTCOMES}
