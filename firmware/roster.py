"""The agency's user roster on the unit: who may use it, in which roles, trained when.

The roster arrives signed over the downlink (firmware.sync.inbox) and is stored here, the one place
that writes it, so tests and provisioning install a roster through the same function. Each user row
carries the roles, a credential hash, whether the user is active, and since migration 0007 the date
of the user's last ALPR training and the recertification period after which that training lapses
(both general orders: only trained users may access ALPR data). Users missing from a newer roster are
deactivated, never deleted: the audit trail names them.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime

from firmware.clock import iso_utc

ROLE_ALIASES = {"admin": "administrator"}   # roster messages before the access rule said "admin"


@dataclass(frozen=True)
class RosterMember:
    user_id: str
    active: bool
    roles: tuple[str, ...]
    credential: str | None = None
    trained_on: date | None = None
    recert_days: int | None = None


def normalise_roles(roles) -> tuple[str, ...]:
    return tuple(dict.fromkeys(ROLE_ALIASES.get(r, r) for r in roles or ()))


def _date(value) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def member_from_row(row) -> RosterMember:
    try:
        roles = json.loads(row["roles"] or "[]")
    except ValueError:
        roles = []
    keys = row.keys()
    return RosterMember(user_id=row["user_id"], active=bool(row["active"]), roles=normalise_roles(roles),
                        credential=row["credential"] or None,
                        trained_on=_date(row["trained_on"]) if "trained_on" in keys else None,
                        recert_days=row["recert_days"] if "recert_days" in keys else None)


def roster_member(conn: sqlite3.Connection, user: str) -> tuple[bool, RosterMember | None]:
    """(whether the agency has sent a roster, this user's entry or None)."""
    try:
        if conn.execute("SELECT 1 FROM roster LIMIT 1").fetchone() is None:
            return False, None
        row = conn.execute("SELECT * FROM roster WHERE user_id = ?", (user,)).fetchone()
    except sqlite3.OperationalError:  # no roster table in this database
        return False, None
    return True, (member_from_row(row) if row is not None else None)


def store_roster(conn: sqlite3.Connection, roster, *, seq: int, at: datetime) -> dict:
    """Store a validated roster (firmware.sync.downlink.Roster) inside the caller's transaction."""
    stamp = iso_utc(at)
    ids = [u.id for u in roster.users]
    if len(set(ids)) != len(ids):
        raise ValueError("user ids repeat")
    default_recert = getattr(roster, "recert_days", None)
    for u in roster.users:
        trained = getattr(u, "trained_on", None)
        recert = getattr(u, "recert_days", None) or default_recert
        conn.execute(
            "INSERT INTO roster (user_id, name, roles, credential, active, roster_seq, updated_at, trained_on,"
            " recert_days) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(user_id) DO UPDATE SET"
            " name = excluded.name, roles = excluded.roles, credential = excluded.credential,"
            " active = excluded.active, roster_seq = excluded.roster_seq, updated_at = excluded.updated_at,"
            " trained_on = excluded.trained_on, recert_days = excluded.recert_days",
            (u.id, u.name, json.dumps(list(normalise_roles(u.roles))), u.credential, int(u.active), seq, stamp,
             trained.isoformat() if trained else None, recert))
    # users absent from the new roster are deactivated, never deleted (the audit trail names them)
    gone = conn.execute("UPDATE roster SET active = 0, roster_seq = ?, updated_at = ? WHERE roster_seq < ?"
                        " AND active = 1", (seq, stamp, seq)).rowcount
    return {"users": len(ids), "deactivated": gone}


def roster_state(conn: sqlite3.Connection, now: datetime | None = None) -> dict:
    """For health and the screen: `state` is "none" (no roster yet: a malfunction, data access refused
    except the audited provisioning path) or "present", with counts for the roster review."""
    try:
        rows = [member_from_row(r) for r in conn.execute("SELECT * FROM roster")]
    except sqlite3.OperationalError:
        rows = []
    if not rows:
        return {"state": "none", "malfunction": "no roster", "users": 0, "active": 0, "training_due": 0}
    today = (now or datetime.now().astimezone()).date()
    from firmware.access import training_current

    active = [m for m in rows if m.active]
    due = [m for m in active if not training_current(m, today)]
    return {"state": "present", "malfunction": None, "users": len(rows), "active": len(active),
            "inactive": len(rows) - len(active), "training_due": len(due)}
