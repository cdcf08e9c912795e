"""Purpose control: the one door every search of stored reads goes through.

The general orders allow access to ALPR data only for law enforcement and criminal justice
purposes, forbid traffic enforcement, crash investigation (hit and run included) and commercial
use, and require every query to be logged with user, date, time, purpose and the plate or other
terms used. So a query names a user and a purpose from the configured list; a refused one is
audited as `query_refused`, an allowed one as `query` with its terms, in the same transaction as
the search itself.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from firmware.clock import iso_utc
from firmware.retention.audit import append_audit
from firmware.retention.config import RetentionConfig
from firmware.retention.holds import normalise_plate
from firmware.retention.purpose import PROHIBITED_MARKERS, meaningful, normalise_purpose, prohibited  # noqa: F401


@dataclass(frozen=True)
class PurposeCheck:
    allowed: bool
    purpose: str           # normalised
    reason: str            # allowed | prohibited | not_listed | no_user (| user_not_authorised, roster)


def check_purpose(user: str | None, purpose: str, config: RetentionConfig) -> PurposeCheck:
    """Pure: may `user` query for `purpose`? Prohibited wins over listed."""
    p = normalise_purpose(purpose)
    if not (user or "").strip():
        return PurposeCheck(False, p, "no_user")
    if prohibited(p, config.prohibited_purposes):
        return PurposeCheck(False, p, "prohibited")
    if p not in config.purposes:
        return PurposeCheck(False, p, "not_listed")
    return PurposeCheck(True, p, "allowed")


# A reason says why in a few words; the details belong in the case file. Bounded because every reason is
# stored with its entry and written into the audit log, synced, and shown on the screen.
MAX_REASON_CHARS = 500


def screen_reason(reason: str, config: RetentionConfig | None = None, *, screen_prohibited: bool = True) -> str | None:
    """Pure: the refusal for a free-text reason (a manual entry, its extension or removal), or None.
    The same prohibited-purpose screen as a query, a reason must say something, and in at most
    MAX_REASON_CHARS characters."""
    if len((reason or "").strip()) > MAX_REASON_CHARS:
        return "too_long"
    if screen_prohibited and prohibited(reason, config.prohibited_purposes if config else ()):
        return "prohibited"
    if not meaningful(reason):
        return "no_reason"
    return None


def roster_entry(conn: sqlite3.Connection, user: str) -> tuple[bool, tuple | None]:
    """(whether the agency has sent a roster, this user's (active, credential) row or None)."""
    try:
        if conn.execute("SELECT 1 FROM roster LIMIT 1").fetchone() is None:
            return False, None
        return True, conn.execute("SELECT active, credential FROM roster WHERE user_id = ?", (user,)).fetchone()
    except sqlite3.OperationalError:  # no roster table in this database
        return False, None


def roster_allows(conn: sqlite3.Connection, user: str) -> bool:
    """Only active users of the agency's roster; a unit with no roster refuses (firmware.access)."""
    has_roster, row = roster_entry(conn, user)
    return bool(has_roster and row and row[0])


def _plate_clause(plate: str) -> tuple[str, str]:
    """Exact plate, or a GLOB with * and ? wildcards (normalised like stored plates)."""
    raw = plate.upper()
    if "*" in raw or "?" in raw:
        pattern = "".join(ch for ch in raw if ch.isalnum() or ch in "*?")
        return "plate GLOB ?", pattern
    return "plate = ?", normalise_plate(raw)


def query_reads(conn: sqlite3.Connection, *, config: RetentionConfig, unit_id: str, at: datetime, user: str,
                purpose: str, plate: str | None = None, start: datetime | None = None, end: datetime | None = None,
                camera_id: str | None = None, case_number: str | None = None, limit: int = 1000) -> dict:
    """Search stored reads (inside the caller's transaction). Never raises for a refusal: the refusal's
    audit entry must commit. Returns {"allowed", "reason", "audit_id", "reads": [...]}."""
    check = check_purpose(user, purpose, config)
    if check.allowed and not roster_allows(conn, user):
        check = PurposeCheck(False, check.purpose, "user_not_authorised")
    terms = {"plate": plate, "from": iso_utc(start) if start else None, "to": iso_utc(end) if end else None,
             "camera_id": camera_id, "case_number": case_number, "limit": limit}
    terms = {k: v for k, v in terms.items() if v is not None}
    if not check.allowed:
        audit_id = append_audit(conn, unit_id=unit_id, event="query_refused", at=at, user=user or None,
                                purpose=check.purpose, detail={"terms": terms, "reason": check.reason})
        return {"allowed": False, "reason": check.reason, "purpose": check.purpose, "audit_id": audit_id, "reads": []}
    where, params = [], []
    if plate:
        clause, value = _plate_clause(plate)
        where.append(clause)
        params.append(value)
    if start:
        where.append("captured_at >= ?")
        params.append(iso_utc(start))
    if end:
        where.append("captured_at <= ?")
        params.append(iso_utc(end))
    if camera_id:
        where.append("camera_id = ?")
        params.append(camera_id)
    sql = ("SELECT id, unit_id, camera_id, plate, state, confidence, captured_at, lat, lon, position_method,"
           " crop_path, overview_path, hit FROM reads" + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY captured_at LIMIT ?")
    reads = [dict(r) for r in conn.execute(sql, [*params, limit])]
    if reads:
        marks = ",".join("?" * len(reads))
        by_read: dict[str, list] = {}
        for h in conn.execute(f"SELECT read_id, list_name, entry_plate, category, match, disposition FROM hits"
                              f" WHERE read_id IN ({marks})", [r["id"] for r in reads]):
            by_read.setdefault(h["read_id"], []).append({k: h[k] for k in h.keys() if k != "read_id"})
        for r in reads:
            r["hits"] = by_read.get(r["id"], [])
    audit_id = append_audit(conn, unit_id=unit_id, event="query", at=at, user=user, purpose=check.purpose,
                            detail={"terms": terms, "results": len(reads)})
    return {"allowed": True, "reason": "allowed", "purpose": check.purpose, "audit_id": audit_id, "reads": reads}


