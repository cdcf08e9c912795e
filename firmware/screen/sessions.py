"""Screen sessions: a signed cookie that survives a daemon restart, ends when idle, and can be ended.

Why a signed cookie with a key kept on the unit (data_dir/screen-session.key, mode 0600) rather than
sessions held in memory: the daemon restarts (watchdog, config change) while the officer may be on a
hit; with the key on disk the page reconnects by itself and the officer stays logged in. The key never
leaves the unit and is as protected as the evidence beside it. Why our own 30 lines of stdlib HMAC
rather than itsdangerous: the token is one JSON object and one SHA-256 MAC, and the rules that matter
(idle timeout, shift limit, logout) are ours either way.

A token holds the session id, the user, the roles the roster gave at login, the login time and the
last touch. Every touch by the officer re-issues it (sliding idle timeout); background refreshes of
the page do not count as a touch. Logout revokes the session id (kept in memory and in a small file,
so a copied cookie dies with the logout even across a restart).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

KEY_FILE = "screen-session.key"
REVOKED_FILE = "screen-revoked.json"
COOKIE = "alpr_screen"


@dataclass(frozen=True)
class Session:
    sid: str
    user: str
    roles: tuple[str, ...]
    login_at: float
    seen_at: float

    def as_claims(self) -> dict:
        return {"sid": self.sid, "user": self.user, "roles": list(self.roles), "login_at": self.login_at,
                "seen_at": self.seen_at}


def load_key(data_dir: Path) -> bytes:
    """The unit's session key, made once (0600)."""
    path = Path(data_dir) / KEY_FILE
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(32)
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(path.with_suffix(".tmp"), path)
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sessions:
    def __init__(self, data_dir: Path, *, idle_s: float, max_s: float):
        self.data_dir = Path(data_dir)
        self.key = load_key(self.data_dir)
        self.idle_s = idle_s
        self.max_s = max_s
        self._lock = threading.Lock()
        self._revoked: dict[str, float] = self._load_revoked()

    def issue(self, session: Session) -> str:
        body = _b64(json.dumps(session.as_claims(), separators=(",", ":")).encode())
        mac = _b64(hmac.new(self.key, body.encode(), hashlib.sha256).digest())
        return f"{body}.{mac}"

    def new(self, user: str, roles: tuple[str, ...], now: float) -> tuple[Session, str]:
        session = Session(secrets.token_urlsafe(12), user, tuple(roles), now, now)
        return session, self.issue(session)

    def check(self, token: str | None, now: float) -> tuple[Session | None, str]:
        """(session, "") when valid, else (None, why): missing | forged | expired | ended."""
        session, why = self._verify(token)
        if session is None:
            return None, why
        with self._lock:
            if session.sid in self._revoked:
                return None, "ended"
        if now - session.seen_at > self.idle_s or now - session.login_at > self.max_s:
            return None, "expired"
        return session, ""

    def _verify(self, token: str | None) -> tuple[Session | None, str]:
        if not token or "." not in token:
            return None, "missing"
        if not token.isascii():   # a cookie we never issued (compare_digest refuses non-ASCII text)
            return None, "forged"
        body, _, mac = token.partition(".")
        want = _b64(hmac.new(self.key, body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(want, mac):
            return None, "forged"
        try:
            c = json.loads(_unb64(body))
            return Session(c["sid"], c["user"], tuple(c["roles"]), float(c["login_at"]), float(c["seen_at"])), ""
        except (ValueError, KeyError, TypeError, AttributeError):
            return None, "forged"

    def expired(self, token: str | None, now: float) -> Session | None:
        """The genuine session behind a token that timed out (and was not ended yet): to record its end."""
        session, why = self.check(token, now)
        if why != "expired":
            return None
        return self._verify(token)[0]

    def touch(self, session: Session, now: float) -> str:
        return self.issue(Session(session.sid, session.user, session.roles, session.login_at, now))

    def revoke(self, session: Session, now: float) -> None:
        with self._lock:
            self._revoked[session.sid] = now
            # a revoked id matters only while its token could still be valid
            self._revoked = {s: t for s, t in self._revoked.items() if now - t <= self.max_s}
            data = json.dumps(self._revoked)
        tmp = self.data_dir / (REVOKED_FILE + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(data)
        os.replace(tmp, self.data_dir / REVOKED_FILE)

    def _load_revoked(self) -> dict[str, float]:
        try:
            data = json.loads((self.data_dir / REVOKED_FILE).read_text())
            return {str(k): float(v) for k, v in data.items()}
        except (OSError, ValueError, AttributeError):
            return {}
