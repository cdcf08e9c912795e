"""The daemon's own record of its life: a run marker at start (and the unclean stop it may find),
heartbeats with what is in flight, READY only once capture really works, a clean close at stop.

Kept out of the composition root so `app.py` only calls it: the marker lives in `unit_runs`
(firmware/storage/runs.py), written through the single writer.
"""

from __future__ import annotations

import logging
from typing import Callable

from firmware import __version__, sdnotify
from firmware.storage import runs

log = logging.getLogger(__name__)


def open_storage(data_dir, now) -> tuple:
    """The daemon's database: a corrupt one moved aside for a new one; a disk found full given its
    reserve back so the database opens. Returns the connection and the events to record."""
    from firmware.storage.db import StorageError
    from firmware.storage.recovery import open_or_quarantine
    from firmware.storage.reserve import release_reserve

    events = []
    try:
        conn, quarantined = open_or_quarantine(data_dir, now)
    except StorageError as exc:
        freed = release_reserve(data_dir)
        if not freed:
            raise
        events.append(("malfunction", {"reason": "disk full at start: reserve given back", "error": str(exc),
                                       "reserve_mb": round(freed / 2**20, 1)}))
        conn, quarantined = open_or_quarantine(data_dir, now)
    if quarantined:
        events.append(("malfunction", quarantined))
    # a read is alerted once committed: the commit must survive a power cut (NORMAL in WAL mode may
    # roll the last transactions back); the cost per commit is in docs/performance.md (bench pipeline)
    conn.execute("PRAGMA synchronous = FULL")
    return conn, events


def open_run(call, clock, record_event: Callable[[str, str, dict], None]) -> runs.RunInfo:
    """Open this run's marker; an earlier run still open ended uncleanly: record it, with what it
    had in flight at its last heartbeat (held reads and tracks not yet reads are lost with it)."""
    info = call(lambda conn: runs.begin_run(conn, now=clock.utc(), mono_ns=clock.monotonic_ns(),
                                            boot_id=runs.boot_id_of(clock), version=__version__))
    if info.unclean:
        for dead in call(lambda conn: runs.close_unclean(conn, info.id)):
            pending = dead["pending"]
            detail = {"reason": "unclean shutdown", "run_id": dead["id"], "pid": dead["pid"],
                      "started_at": dead["started_at"], "last_seen_at": dead["seen_at"], "pending": pending}
            record_event("malfunction", "unit", detail)
            lost = {k: pending.get(k, 0) for k in ("tracks", "reads_held", "frames_queued")}
            if any(lost.values()):
                record_event("data_loss", "unit", {"reason": "unclean shutdown", "run_id": dead["id"], **lost})
    return info


def pending_of(unit) -> dict:
    """What a sudden stop now would lose or leave half-done."""
    recorder = getattr(unit, "recorder", None)
    return {
        "tracks": sum(len(p.tracker.tracks) for p in unit.pipelines),
        "frames_queued": sum(len(w.queue) for w in unit.cameras),
        "reads_held": recorder.held_count() if recorder is not None else 0,
        "events_held": unit.held_events.held() if getattr(unit, "held_events", None) is not None else 0,
        "reads": recorder.stats.reads if recorder is not None else 0,
    }


def heartbeat(unit) -> None:
    """Every clock_check_s: the run marker's heartbeat, held events written, the reserve restored."""
    from firmware.storage.reserve import ensure_reserve

    ensure_reserve(unit.data_dir, unit.config.unit.reserve_mb, unit.config.unit.min_free_mb)
    if getattr(unit, "recorder", None) is not None:
        unit.recorder.retry_held()   # space may have come back while no car passed
    pending = pending_of(unit)
    now, mono = unit.clock.utc(), unit.clock.monotonic_ns()
    unit.writer.submit(lambda conn: runs.heartbeat(conn, unit.run_info.id, now=now, mono_ns=mono, pending=pending))


def close_run(unit) -> None:
    """At a clean stop, after capture flushed: the marker says so (what was still held, if anything)."""
    pending = pending_of(unit)
    now, mono = unit.clock.utc(), unit.clock.monotonic_ns()
    unit.held_events.flush()
    try:
        unit.writer.call(lambda conn: runs.end_run(conn, unit.run_info.id, now=now, mono_ns=mono, pending=pending),
                         timeout=10)
    except Exception:  # noqa: BLE001 - storage failing at stop: the next start will call it unclean, truly
        log.exception("run marker not closed", extra={"event": "unit.run_close_failed"})


def capturing(unit) -> bool:
    """READY means capture works: a camera delivered a frame, or no camera is configured."""
    return not unit.cameras or any(w.frames > 0 for w in unit.cameras)


def notify_ready(unit) -> None:
    sdnotify.notify(f"READY=1\nSTATUS=capturing on {sum(1 for w in unit.cameras if w.frames)} of "
                    f"{len(unit.cameras)} camera(s)")
    log.info("ready", extra={"event": "unit.ready", "cameras": len(unit.cameras)})
