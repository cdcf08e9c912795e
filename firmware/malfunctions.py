"""What is wrong with the unit right now, in words an officer can act on: the screen's banner.

A pure function over `Unit.health()` (plus what the screen adds: the roster), so every clause is
tested on plain dicts and any subsystem can add its own. Severity `critical`: the unit may miss or hide
a hit (camera, alert output, disk, out of service); `warning`: hits may be wrong or unlocatable
(stale list, no GPS, no roster).
"""

from __future__ import annotations

from datetime import datetime

STALE_HOTLIST_S = 24 * 3600
GPS_FIX_STALE_S = 10.0


def _problem(source: str, message: str, severity: str) -> dict:
    return {"source": source, "message": message, "severity": severity}


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.0f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def malfunctions(health: dict, now: datetime | None = None, *, min_free_mb: int | None = None) -> list[dict]:
    """Each malfunction as {source, message, severity}, critical first."""
    out: list[dict] = []
    service = health.get("service") or {}
    if health.get("out_of_service") or service.get("in_service") is False:
        why = service.get("reason") or health.get("out_of_service_reason") or "see the technician"
        out.append(_problem("unit", f"Unit out of service: {why}", "critical"))
    for cam in health.get("cameras") or []:
        name = cam.get("camera", "?")
        if cam.get("stalled"):
            out.append(_problem(f"camera:{name}", f"Camera {name} stalled: no frames", "critical"))
        elif cam.get("frozen"):
            out.append(_problem(f"camera:{name}", f"Camera {name} frozen: the same image over and over", "critical"))
    for output in (health.get("alerts") or {}).get("outputs") or []:
        if output.get("ok") is False:
            name = output.get("sink") or "?"
            why = output.get("problem") or "not working"
            out.append(_problem(f"alert:{name}", f"Alert output {name} failed: {why}", "critical"))
    free = health.get("disk_free_mb")
    limit = min_free_mb if min_free_mb is not None else (health.get("disk") or {}).get("min_free_mb")
    if free is not None and limit is not None and free < limit:
        out.append(_problem("disk", f"Disk low: {free} MB free (needs {limit} MB); images not stored", "critical"))
    gps = health.get("gps") or {}
    if gps:
        age = gps.get("fix_age_s")
        if gps.get("connected") is False:
            out.append(_problem("gps", "No GPS: receiver not connected", "warning"))
        elif age is None or age > GPS_FIX_STALE_S:
            out.append(_problem("gps", "No GPS fix" + (f" for {age:.0f} s" if age is not None else ""), "warning"))
    for lst in (health.get("hotlists") or {}).get("lists") or []:
        age = lst.get("age_s")
        if lst.get("stale") or (age is not None and age > STALE_HOTLIST_S):
            shown = f"{_hours(age)} old" if age is not None else "age unknown"
            out.append(_problem(f"hotlist:{lst.get('name')}", f"Hotlist {lst.get('name')} stale: {shown}", "warning"))
    roster = health.get("roster")
    if roster is not None and not roster.get("present"):
        out.append(_problem("roster", "No user roster from the agency: data access is refused until it arrives",
                            "warning"))
    out.sort(key=lambda p: p["severity"] != "critical")
    return out
