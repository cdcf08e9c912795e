"""Officer login: the roster's credential checked, every attempt audited, repeated failures locked out.

Policy (../shared/seeds): access by individual login of trained users only, and every login logged with
user, date, time and purpose. Until now a command took `--user NAME` on trust, so anyone at the
terminal could act as anyone. The agency's roster (signed downlink) carries, per user, a credential
*hash*; here a PIN or password is checked against it before a hit is listed or verified or reads are
searched. A unit with no roster yet refuses every login except the audited provisioning path
(firmware.access: the one access rule decides roles, training and the action after the login).

Hash format: `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt, base64>$<key, base64>` (hashlib.scrypt, stdlib:
memory-hard, no dependency). The agency makes them with `alpr-unit sync hash-credential`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from firmware.clock import iso_utc
from firmware.retention.audit import append_audit
from firmware.roster import roster_member

SCHEME = "scrypt"
MAX_FAILURES = 5                       # failed attempts for one user within LOCKOUT_WINDOW lock it
LOCKOUT_WINDOW = timedelta(minutes=15)


class CredentialFormatError(ValueError):
    pass


def hash_credential(secret: str, *, salt: bytes | None = None, ln: int = 14, r: int = 8, p: int = 1) -> str:
    if not secret:
        raise ValueError("an empty secret cannot be a credential")
    salt = os.urandom(16) if salt is None else salt
    key = hashlib.scrypt(secret.encode(), salt=salt, n=1 << ln, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32)
    b64 = base64.b64encode
    return f"${SCHEME}$ln={ln},r={r},p={p}${b64(salt).decode()}${b64(key).decode()}"


def verify_credential(stored: str, secret: str) -> bool:
    """Constant-time check of `secret` against a stored hash; a hash we cannot parse is an error, not a no."""
    parts = stored.split("$")
    if len(parts) != 5 or parts[0] or parts[1] != SCHEME:
        raise CredentialFormatError(f"unsupported credential scheme {parts[1] if len(parts) > 1 else stored!r}")
    try:
        params = dict(kv.split("=", 1) for kv in parts[2].split(","))
        ln, r, p = int(params["ln"]), int(params["r"]), int(params["p"])
        salt, key = base64.b64decode(parts[3], validate=True), base64.b64decode(parts[4], validate=True)
    except (KeyError, ValueError) as exc:
        raise CredentialFormatError(f"malformed {SCHEME} credential: {exc}") from None
    if not (10 <= ln <= 20 and 1 <= r <= 32 and 1 <= p <= 16 and key):
        raise CredentialFormatError("scrypt parameters out of range")
    # the bytes as typed: a PIN that is not UTF-8 (stdin passes it through as surrogates) is a wrong PIN
    got = hashlib.scrypt(secret.encode("utf-8", "surrogateescape"), salt=salt, n=1 << ln, r=r, p=p,
                         maxmem=256 * 1024 * 1024, dklen=len(key))
    return hmac.compare_digest(got, key)


@dataclass(frozen=True)
class Login:
    ok: bool
    reason: str            # credential | no_credential | provisioning | no_roster | unknown_user | inactive |
    #                        wrong_secret | no_secret | locked | bad_credential

    @property
    def message(self) -> str:
        return {
            "unknown_user": "not a user on the agency roster",
            "no_roster": "this unit has no roster from the agency yet: data access is refused (a technician may "
                         "use --provisioning for set-up and diagnosis)",
            "inactive": "not an active user on the agency roster",
            "wrong_secret": "wrong PIN or password",
            "no_secret": "this user must log in with a PIN or password (--pin-stdin, or at the prompt)",
            "locked": f"locked after {MAX_FAILURES} failed logins; try again later",
            "bad_credential": "the roster's credential for this user is unusable; ask the ALPR administrator",
        }.get(self.reason, self.reason)


def needs_secret(conn: sqlite3.Connection, user: str) -> bool:
    _, member = roster_member(conn, user)
    return bool(member is not None and member.credential)


def login(conn: sqlite3.Connection, user: str, secret: str | None, *, purpose: str | None, at: datetime,
          unit_id: str, context: dict | None = None, provisioning: bool = False) -> Login:
    """Decide and audit one login attempt (inside the caller's transaction, so the entry always commits).
    `context`: what the user was about to do (command, search terms), kept with the entry."""
    result = _decide(conn, user, secret, at, provisioning)
    event = "login_ok" if result.ok else ("login_locked" if result.reason == "locked" else "login_failed")
    append_audit(conn, unit_id=unit_id, event=event, at=at, user=user or None, purpose=purpose,
                 detail={"method": result.reason, **(context or {})})
    return result


def _decide(conn, user: str, secret: str | None, at: datetime, provisioning: bool = False) -> Login:
    if not (user or "").strip():
        return Login(False, "unknown_user")
    has_roster, member = roster_member(conn, user)
    if not has_roster:
        return Login(True, "provisioning") if provisioning else Login(False, "no_roster")
    if member is None:
        return Login(False, "unknown_user")
    if not member.active:
        return Login(False, "inactive")
    if not member.credential:
        return Login(True, "no_credential")
    since = iso_utc(at - LOCKOUT_WINDOW)
    failures = conn.execute("SELECT count(*) FROM audit_log WHERE event = 'login_failed' AND user = ? AND at >= ?"
                            " AND at > coalesce((SELECT max(at) FROM audit_log WHERE event = 'login_ok' AND user = ?),"
                            " '')", (user, since, user)).fetchone()[0]
    if failures >= MAX_FAILURES:
        return Login(False, "locked")
    if not secret:
        return Login(False, "no_secret")
    try:
        ok = verify_credential(member.credential, secret)
    except CredentialFormatError:
        return Login(False, "bad_credential")
    return Login(True, "credential") if ok else Login(False, "wrong_secret")
