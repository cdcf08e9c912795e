"""Maintenance log, kept for the life of the unit: repairs, calibrations, software updates, and the
malfunctions the daemon records by itself (camera stall, GPS loss, disk errors) with the moments a
part left and came back into service. The policies require these records for the life of the
system and that users be told of removal from and return to service, so purge never touches them.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

from firmware.clock import iso_utc, parse_iso_utc
from firmware.ids import new_id
from firmware.retention.audit import append_audit
from firmware.storage import outbox

KINDS = ("repair", "calibration", "software_update", "inspection", "out_of_service", "back_in_service", "other")


class MaintenanceError(ValueError):
    pass


# A record says when the work was done. Work cannot be recorded before it happens; an hour of slack
# lets a technician's watch and the unit's clock disagree. The earliest date catches a mistyped year.
AHEAD_SLACK = timedelta(hours=1)
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)


def work_time_problem(at: datetime, recorded_at: datetime) -> str | None:
    """Pure: why `at` cannot be when the work was done, recorded at `recorded_at` (the unit's clock)."""
    if at < EARLIEST:
        return f"--at {at:%Y-%m-%d} is before {EARLIEST:%Y} (a mistyped year?)"
    if at > recorded_at + AHEAD_SLACK:
        return (f"--at {at:%Y-%m-%dT%H:%MZ} is after now ({recorded_at:%Y-%m-%dT%H:%MZ} by the unit's clock): work"
                f" is recorded once done. If the unit's clock is wrong, leave --at out and give the real time in"
                f" the description")
    return None


def add_maintenance(conn: sqlite3.Connection, *, kind: str, technician: str, description: str, at: datetime,
                    recorded_at: datetime, unit_id: str, component: str = "unit",
                    out_of_service: bool = False) -> str:
    """One maintenance record (inside the caller's transaction), audited. Returns its id."""
    if kind not in KINDS:
        raise MaintenanceError(f"kind must be one of {', '.join(KINDS)}")
    if not technician.strip() or not description.strip():
        raise MaintenanceError("technician and description are required")
    if (problem := work_time_problem(at, recorded_at)) is not None:
        raise MaintenanceError(problem)
    entry_id = new_id()
    oos = out_of_service or kind == "out_of_service"
    conn.execute(
        "INSERT INTO maintenance_log (id, at, kind, component, technician, description, out_of_service, recorded_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (entry_id, iso_utc(at), kind, component, technician.strip(), description.strip(), int(oos),
         iso_utc(recorded_at)),
    )
    append_audit(conn, unit_id=unit_id, event="maintenance", at=recorded_at, user=technician.strip(),
                 detail={"id": entry_id, "kind": kind, "component": component, "at": iso_utc(at),
                         "out_of_service": oos})
    return entry_id


def record_malfunction(conn: sqlite3.Connection, *, source: str, at: datetime, unit_id: str,
                       detail: dict | None = None, back_in_service: bool = False) -> str:
    """For the daemon: a part failed (or recovered). Writes the event, audits it and queues it for sync."""
    kind = "back_in_service" if back_in_service else "malfunction"
    event_id = store_event(conn, kind=kind, source=source, detail=detail or {}, at=at)
    append_audit(conn, unit_id=unit_id, event=kind, at=at, user="system",
                 detail={"event_id": event_id, "source": source, **(detail or {})})
    return event_id


def store_event(conn: sqlite3.Connection, *, kind: str, source: str, detail: dict, at: datetime) -> str:
    """An `events` row queued for sync, shaped like `firmware.storage.reads.record_event` (which pulls
    in OpenCV; the purge CLI should not)."""
    event_id = new_id()
    conn.execute("INSERT INTO events (id, at, kind, source, detail) VALUES (?, ?, ?, ?, ?)",
                 (event_id, iso_utc(at), kind, source, json.dumps(detail, default=str)))
    outbox.enqueue(conn, "event", event_id, {"schema": 1, "id": event_id, "at": iso_utc(at), "kind": kind,
                                             "source": source, "detail": detail}, at)
    return event_id


def service_intervals(events: list[dict], until: datetime) -> list[dict]:
    """Pure: out-of-service intervals per source from time-ordered malfunction / back_in_service events.

    Repeated malfunctions of a source while it is already out count once; a back_in_service with no
    open malfunction is ignored; an interval still open at `until` is reported as ongoing.
    """
    open_since: dict[str, tuple[datetime, int]] = {}
    intervals = []
    for e in sorted(events, key=lambda e: e["at"]):
        at = e["at"] if isinstance(e["at"], datetime) else parse_iso_utc(e["at"])
        source = e["source"]
        if e["kind"] in ("malfunction", "out_of_service"):
            start, n = open_since.get(source, (at, 0))
            open_since[source] = (start, n + 1)
        elif e["kind"] == "back_in_service" and source in open_since:
            start, n = open_since.pop(source)
            intervals.append({"source": source, "from": iso_utc(start), "to": iso_utc(at), "ongoing": False,
                              "malfunctions": n, "seconds": (at - start).total_seconds()})
    for source, (start, n) in open_since.items():
        intervals.append({"source": source, "from": iso_utc(start), "to": None, "ongoing": True,
                          "malfunctions": n, "seconds": max(0.0, (until - start).total_seconds())})
    return sorted(intervals, key=lambda i: i["from"])


def maintenance_entries(conn: sqlite3.Connection, start: str | None = None, end: str | None = None) -> list[dict]:
    """Maintenance records and automatic malfunction events in one time-ordered list."""
    lo, hi = start or "", end or "\uffff"
    rows = [{"type": "maintenance", **dict(r)} for r in conn.execute(
        "SELECT * FROM maintenance_log WHERE at >= ? AND at <= ? ORDER BY at", (lo, hi))]
    for r in conn.execute("SELECT id, at, kind, source, detail FROM events WHERE kind IN"
                          " ('malfunction','back_in_service') AND at >= ? AND at <= ? ORDER BY at", (lo, hi)):
        rows.append({"type": "event", "id": r["id"], "at": r["at"], "kind": r["kind"], "component": r["source"],
                     "detail": json.loads(r["detail"] or "{}")})
    return sorted(rows, key=lambda r: r["at"])


def interval_events(conn: sqlite3.Connection, start: str | None = None, end: str | None = None) -> list[dict]:
    lo, hi = start or "", end or "\uffff"
    found = [dict(r) for r in conn.execute(
        "SELECT at, kind, source FROM events WHERE kind IN ('malfunction','back_in_service') AND at >= ? AND at <= ?",
        (lo, hi))]
    found += [{"at": r["at"], "kind": r["kind"], "source": r["component"]} for r in conn.execute(
        "SELECT at, kind, component FROM maintenance_log WHERE kind IN ('out_of_service','back_in_service')"
        " AND at >= ? AND at <= ?", (lo, hi))]
    return found


def out_of_service(conn: sqlite3.Connection) -> list[dict]:
    """Parts a technician took out of service and has not yet put back (the latest maintenance record of
    each component says so): what the officer's screen must say, newest first."""
    rows = conn.execute(
        "SELECT m.component, m.at, m.kind, m.description, m.technician FROM maintenance_log m"
        " WHERE m.out_of_service = 1 AND NOT EXISTS (SELECT 1 FROM maintenance_log later"
        " WHERE later.component = m.component AND later.at > m.at) ORDER BY m.at DESC").fetchall()
    return [dict(r) for r in rows]
