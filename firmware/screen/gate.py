"""The screen's one door to the access rule (firmware/access.py), so the screen asks what the CLI asks.

- Login: `authenticate` (scrypt credential, lockout, audited) and, in the same transaction, an audited
  `authorize` of `health.view` that every role has: an untrained, inactive or unknown user never gets a
  session, and the session carries the roles the roster gave.
- Viewing (the live view, hit records, images): the pure `decide` over the roster as it is now, on every
  request, so a user the agency deactivates loses the screen at once. It is not audited per request: the
  page refreshes every few seconds, and the session's start is audited (login_ok and access).
- Acting (checks, dispositions, outcomes, manual entries, searches): the audited `authorize`, with the
  purpose and terms, in the same writer transaction as the domain function, as the CLI does.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from firmware.access import ACTIONS, Decision, authenticate as access_authenticate, authorize, decide
from firmware.roster import roster_member

__all__ = ["ACTIONS", "Decision", "ScreenLogin", "allowed", "authenticate", "authorize", "permits"]


@dataclass(frozen=True)
class ScreenLogin:
    ok: bool
    reason: str
    message: str
    roles: tuple[str, ...]


def authenticate(conn: sqlite3.Connection, *, user: str, secret: str, at: datetime, unit_id: str) -> ScreenLogin:
    """One login attempt on the screen (inside the caller's transaction: its audit entries always commit)."""
    result = access_authenticate(conn, user=user, secret=secret or None, at=at, unit_id=unit_id,
                                 context={"purpose": "screen", "command": "screen login"})
    if not result.ok:
        return ScreenLogin(False, result.reason, result.message, ())
    decision = authorize(conn, user=user, action="health.view", at=at, unit_id=unit_id, terms={"screen": "login"})
    if not decision.ok:
        return ScreenLogin(False, decision.reason, decision.message, decision.roles)
    return ScreenLogin(True, result.reason, "", decision.roles)


def allowed(roles: tuple[str, ...], action: str) -> bool:
    """Pure: whether any of these roles may do `action` (what the page offers)."""
    return bool(set(roles) & ACTIONS.get(action, frozenset()))


def permits(conn: sqlite3.Connection, user: str, action: str, at: datetime) -> Decision:
    """The rule over the roster as it is now (not audited: see the module docstring)."""
    present, member = roster_member(conn, user)
    return decide(roster_present=present, member=member, action=action, now=at)
