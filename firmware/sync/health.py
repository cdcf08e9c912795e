"""The periodic health report: what a fleet dashboard needs to tell a working unit from a broken one.

The daemon supplies what only it knows (frames/s per camera, GPS fix, hotlist ages) through a
callback; this module adds what it can measure itself (disk, CPU temperature, queue depth, version).
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

from firmware import __version__
from firmware.clock import iso_utc
from firmware.sync.messages import SCHEMA

THERMAL = Path("/sys/class/thermal")


def cpu_temperature_c(root: Path = THERMAL) -> float | None:
    """Hottest thermal zone in degrees C, or None where the kernel exposes none (VMs)."""
    temps = []
    for zone in sorted(root.glob("thermal_zone*/temp")):
        try:
            temps.append(int(zone.read_text().strip()) / 1000.0)
        except (OSError, ValueError):
            continue
    return max(temps) if temps else None


def disk_facts(path: Path) -> dict:
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return {"free_mb": None, "used_pct": None}
    return {"free_mb": usage.free // (1024 * 1024), "used_pct": round(100.0 * usage.used / usage.total, 1)}


def build_health(unit_id: str, at: datetime, data_dir: Path, queue: dict, sync: dict, extra: dict | None) -> dict:
    """One health message. `extra` (from the daemon) wins over the measured defaults on the same key."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    report = {
        "schema": SCHEMA, "id": f"{unit_id}:health:{iso_utc(at)}", "unit": unit_id, "at": iso_utc(at),
        "version": __version__, "disk": disk_facts(data_dir), "cpu_temp_c": cpu_temperature_c(),
        "load_1m": load[0], "queue": queue, "sync": sync,
        "cameras": {}, "gps": None, "hotlists": {},
    }
    if extra:
        report.update(extra)
        report.update(schema=SCHEMA, id=f"{unit_id}:health:{iso_utc(at)}", unit=unit_id, at=iso_utc(at))
    return report
