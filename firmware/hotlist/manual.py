"""Manual hotlist entries: an officer's or administrator's plate, with a reason, who and when.

They live in a list whose source is "manual", expire (30 days by default), can be extended only with a
justification, and every change is audited with who, when and why. Adding one checks the reads still
on the unit at once (historical hits), as a list load does.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from firmware.clock import iso_utc
from firmware.hotlist.index import IndexBuilder
from firmware.hotlist.match import MatchOptions, entry_problem, normalise_entry
from firmware.hotlist.store import HotlistError, _new_version, check_past_reads, ensure_list
from firmware.retention.audit import append_audit

def _screen(text: str, what: str) -> None:
    """The purpose screen every search goes through (a manual entry searches the stored reads at once)."""
    from firmware.retention.query import MAX_REASON_CHARS, screen_reason

    refusal = screen_reason(text)
    if refusal == "too_long":
        raise HotlistError(f"the {what} is {len(text.strip())} characters long: say why in a few words (at most "
                           f"{MAX_REASON_CHARS}; the details belong in the case file)")
    if refusal == "prohibited":
        raise HotlistError(f"the {what} names a prohibited use (traffic enforcement, crash investigation, "
                           "commercial, ...): refused")
    if refusal:
        raise HotlistError(f"give a specific {what} (a few words saying why), not {text.strip()!r}")


def add_manual(conn: sqlite3.Connection, *, plate: str, state: str | None, reason: str, user: str, at: datetime,
               unit_id: str, days: int = 30, max_days: int = 30, category: str | None = None,
               list_name: str = "manual", priority: int = 10, alert: str = "audible",
               options: MatchOptions | None = None) -> dict:
    """An officer's or administrator's entry: reason and who required, expires after `days` (<= max_days)."""
    if not (reason or "").strip():
        raise HotlistError("a manual entry needs a reason")
    _screen(reason, "reason")
    if not (user or "").strip():
        raise HotlistError("a manual entry needs the name of who adds it")
    if not 1 <= days <= max_days:
        raise HotlistError(f"a manual entry lives 1 to {max_days} days")
    problem = entry_problem(plate)
    if problem:
        raise HotlistError(f"plate refused: {'junk plate (NONE/UNK/empty)' if problem == 'junk' else problem}")
    plate = normalise_entry(plate)
    state = (state or "").strip().upper() or None
    if state and (len(state) > 3 or not state.isalnum()):   # the rule an imported list's rows follow
        raise HotlistError(f"state must be 1-3 letters or digits, not {state!r}")
    list_row = ensure_list(conn, list_name, at=at, source="manual", priority=priority, alert=alert, update=False)
    if list_row["source"] != "manual":
        raise HotlistError(f"list {list_name!r} is not a manual list")
    expires = at + timedelta(days=days)
    cur = conn.execute(
        "INSERT INTO hotlist_entries (list_id, plate, state, category, expires_at, reason, added_by, added_at)"
        " VALUES (?,?,?,?,?,?,?,?)", (list_row["id"], plate, state, category, iso_utc(expires), reason.strip(),
                                      user, iso_utc(at)))
    entry_id = cur.lastrowid
    version, _ = _new_version(conn, list_row, mode="manual-add", at=at, sha256=None, file_name=None,
                              report={"entry_id": entry_id})
    append_audit(conn, unit_id=unit_id, event="hotlist.manual.add", at=at, user=user, purpose=reason.strip(), detail={
        "list": list_name, "entry_id": entry_id, "plate": plate, "state": state, "category": category,
        "expires_at": iso_utc(expires), "version": version})
    builder = IndexBuilder()
    builder.add(plate, state, entry_id, category, None, int(expires.timestamp()))
    list_row = conn.execute("SELECT * FROM hotlists WHERE id = ?", (list_row["id"],)).fetchone()
    hits = check_past_reads(conn, list_row, builder.build(), options or MatchOptions(), at=at)
    return {"id": entry_id, "list": list_name, "plate": plate, "state": state, "category": category,
            "reason": reason.strip(), "added_by": user, "added_at": iso_utc(at), "expires_at": iso_utc(expires),
            "version": version, "historical_hits": hits}


def _manual_entry(conn, entry_id: int) -> sqlite3.Row:
    if not 0 < entry_id < 2 ** 63:      # SQLite ids are 64-bit; a bigger number names no entry
        raise HotlistError(f"no manual entry with id {entry_id}")
    row = conn.execute("SELECT e.*, l.name AS list_name, l.source FROM hotlist_entries e JOIN hotlists l"
                       " ON l.id = e.list_id WHERE e.id = ?", (entry_id,)).fetchone()
    if row is None or row["source"] != "manual":
        raise HotlistError(f"no manual entry with id {entry_id}")
    return row


def extend_manual(conn: sqlite3.Connection, entry_id: int, *, days: int, justification: str, user: str,
                  at: datetime, unit_id: str, max_days: int = 30) -> dict:
    """A new expiry `days` from now (<= max_days, later than the current one); needs a justification."""
    if not (justification or "").strip():
        raise HotlistError("extending a manual entry needs a justification")
    _screen(justification, "justification")
    if not (user or "").strip():
        raise HotlistError("extending a manual entry needs the name of who extends it")
    if not 1 <= days <= max_days:
        raise HotlistError(f"an extension lasts 1 to {max_days} days")
    row = _manual_entry(conn, entry_id)
    expires = at + timedelta(days=days)
    if row["expires_at"] is not None and iso_utc(expires) <= row["expires_at"]:
        raise HotlistError(f"entry {entry_id} already runs until {row['expires_at']}: {days} days from now "
                           "would not extend it")
    conn.execute("UPDATE hotlist_entries SET expires_at = ? WHERE id = ?", (iso_utc(expires), entry_id))
    list_row = conn.execute("SELECT * FROM hotlists WHERE id = ?", (row["list_id"],)).fetchone()
    version, _ = _new_version(conn, list_row, mode="manual-extend", at=at, sha256=None, file_name=None,
                              report={"entry_id": entry_id})
    append_audit(conn, unit_id=unit_id, event="hotlist.manual.extend", at=at, user=user,
                 purpose=justification.strip(), detail={
                     "list": row["list_name"], "entry_id": entry_id, "plate": row["plate"],
                     "previous_expiry": row["expires_at"], "expires_at": iso_utc(expires), "version": version})
    return {"id": entry_id, "expires_at": iso_utc(expires), "previous_expiry": row["expires_at"], "version": version}


def remove_manual(conn: sqlite3.Connection, entry_id: int, *, reason: str, user: str, at: datetime,
                  unit_id: str) -> dict:
    if not (reason or "").strip():
        raise HotlistError("removing a manual entry needs a reason")
    if not (user or "").strip():
        raise HotlistError("removing a manual entry needs the name of who removes it")
    row = _manual_entry(conn, entry_id)
    conn.execute("DELETE FROM hotlist_entries WHERE id = ?", (entry_id,))
    list_row = conn.execute("SELECT * FROM hotlists WHERE id = ?", (row["list_id"],)).fetchone()
    version, _ = _new_version(conn, list_row, mode="manual-remove", at=at, sha256=None, file_name=None,
                              report={"entry_id": entry_id})
    append_audit(conn, unit_id=unit_id, event="hotlist.manual.remove", at=at, user=user, purpose=reason.strip(),
                 detail={"list": row["list_name"], "entry_id": entry_id, "plate": row["plate"],
                         "state": row["state"], "added_by": row["added_by"], "version": version})
    return {"id": entry_id, "removed": True, "version": version}


def manual_entries(conn: sqlite3.Connection, *, at: datetime, include_expired: bool = False) -> list[dict]:
    rows = conn.execute("SELECT e.id, l.name AS list, e.plate, e.state, e.category, e.reason, e.added_by, e.added_at,"
                        " e.expires_at FROM hotlist_entries e JOIN hotlists l ON l.id = e.list_id"
                        " WHERE l.source = 'manual' ORDER BY e.id").fetchall()
    now = iso_utc(at)
    out = [dict(r) | {"expired": r["expires_at"] is not None and r["expires_at"] <= now} for r in rows]
    return out if include_expired else [r for r in out if not r["expired"]]
