"""The screen's one door to login and role rules, so the screen asks exactly what the CLI asks.

`firmware/access.py` (authenticate/authorize, roles and actions) is the agency's rule book; until it
is on this branch this adapter calls `firmware.auth.login` and a local role table. Switching is this
file only.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from firmware.auth import login as auth_login

# What each role may do on the screen (the CLI's officer rules: see firmware/dispositions.py).
OFFICER = frozenset({"health.view", "reads.view", "reads.search", "hits.view", "hits.verify",
                     "hotlist.view", "hotlist.manual_add", "hotlist.manual_extend"})
ROLE_ACTIONS = {
    "officer": OFFICER,
    "supervisor": OFFICER | {"hits.amend"},
    "admin": OFFICER | {"hits.amend"},
    "technician": frozenset({"health.view"}),
    "auditor": frozenset({"health.view"}),
}


@dataclass(frozen=True)
class ScreenLogin:
    ok: bool
    reason: str
    message: str
    roles: tuple[str, ...]


def _roster_roles(conn: sqlite3.Connection, user: str) -> tuple[str, ...]:
    try:
        row = conn.execute("SELECT roles FROM roster WHERE user_id = ?", (user,)).fetchone()
    except sqlite3.OperationalError:
        return ()
    try:
        return tuple(json.loads(row[0])) if row else ()
    except ValueError:
        return ()


def authenticate(conn: sqlite3.Connection, *, user: str, secret: str, at: datetime, unit_id: str) -> ScreenLogin:
    """One login attempt on the screen (inside the caller's transaction: the audit entry always commits)."""
    result = auth_login(conn, user, secret or None, purpose="screen login", at=at, unit_id=unit_id,
                        context={"command": "screen login"})
    roles = _roster_roles(conn, user) if result.ok else ()
    if result.ok and result.reason == "no_roster":
        roles = ("officer",)   # a unit not yet enrolled: named users, every action audited, as on the CLI
    if result.ok and not roles:
        return ScreenLogin(False, "no_role", "the roster gives this user no role on the unit", ())
    return ScreenLogin(result.ok, result.reason, "" if result.ok else result.message, roles)


def allowed(roles: tuple[str, ...], action: str) -> bool:
    return any(action in ROLE_ACTIONS.get(role, ()) for role in roles)
