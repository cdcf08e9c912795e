"""Config changes the agency signed and sent over the downlink, applied when the daemon starts.

A change arrives while the unit runs and is only stored (`config_changes`, status `pending`): swapping
a camera or the retention window under running services would need every service to re-plan mid-shift,
and a restart does that already, in the composition root's order. So at start-up the newest change
not superseded is laid over the config file. Each change is the agency's whole overlay for the unit:
the newest replaces the one before, it does not add to it (keys an old overlay set return to the
file's values). A change that no longer validates against today's file (the technician edited the
file since) is refused at start, recorded, and the file alone is used: the unit never starts on a
config it cannot check.

`decide` is the pure decision; `apply_at_start` does the I/O through the writer.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from firmware.clock import iso_utc
from firmware.config import UnitConfig
from firmware.retention.audit import append_audit

log = logging.getLogger(__name__)

SYSTEM_USER = "system"


@dataclass(frozen=True)
class Change:
    seq: int
    overlay: dict
    status: str  # pending | applied | superseded | refused


@dataclass(frozen=True)
class Decision:
    config: UnitConfig
    seq: int | None                  # the change in force, None when the file alone is
    newly_applied: bool              # it was pending until now
    supersede: tuple[int, ...]       # older applied changes the new one replaces
    refused: tuple[int, str] | None  # (seq, why) of a change that no longer validates


def deep_merge(base: dict, overlay: dict) -> dict:
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def validation_summary(exc: ValidationError, limit: int = 5) -> str:
    """`section.key: message; ...` for the first few problems (audit entries and downlink rejections)."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:limit])


def load_changes(conn) -> list[Change]:
    return [Change(int(r[0]), json.loads(r[1]), r[2])
            for r in conn.execute("SELECT seq, overlay, status FROM config_changes")]


def decide(file_config: UnitConfig, changes: list[Change]) -> Decision:
    """Which config the daemon starts on: the file with the newest live change over it, if it validates."""
    live = [c for c in changes if c.status in ("pending", "applied")]
    if not live:
        return Decision(file_config, None, False, (), None)
    newest = max(live, key=lambda c: c.seq)
    older_applied = tuple(sorted(c.seq for c in live if c.seq != newest.seq and c.status == "applied"))
    merged = deep_merge(file_config.model_dump(mode="json"), newest.overlay)
    try:
        config = UnitConfig.model_validate(merged)
    except ValidationError as exc:
        return Decision(file_config, None, False, older_applied, (newest.seq, validation_summary(exc)))
    return Decision(config, newest.seq, newest.status == "pending", older_applied, None)


def apply_at_start(file_config: UnitConfig, run, unit_id: str, at: datetime) -> Decision:
    """Read the stored changes, decide, record the outcome (status + audit) in one transaction."""
    changes = run(load_changes)
    d = decide(file_config, changes)

    def record(conn) -> None:
        for seq in d.supersede:
            conn.execute("UPDATE config_changes SET status = 'superseded' WHERE seq = ?", (seq,))
        if d.refused is not None:
            seq, why = d.refused
            conn.execute("UPDATE config_changes SET status = 'refused' WHERE seq = ?", (seq,))
            append_audit(conn, unit_id=unit_id, event="config_refused", at=at, user=SYSTEM_USER, purpose="start-up",
                         detail={"seq": seq, "why": why})
        if d.newly_applied:
            conn.execute("UPDATE config_changes SET status = 'applied' WHERE seq = ?", (d.seq,))
            overlay = next(c.overlay for c in changes if c.seq == d.seq)
            append_audit(conn, unit_id=unit_id, event="config_applied", at=at, user=SYSTEM_USER, purpose="start-up",
                         detail={"seq": d.seq, "overlay": overlay, "applied_at": iso_utc(at)})

    if d.supersede or d.refused or d.newly_applied:
        run(record)
    if d.refused is not None:
        log.warning("downlinked config refused at start", extra={"event": "config.refused", "seq": d.refused[0],
                                                                  "why": d.refused[1]})
    elif d.seq is not None:
        log.info("downlinked config in force", extra={"event": "config.overlay", "seq": d.seq,
                                                      "newly_applied": d.newly_applied})
    return d


def pending_change(run) -> int | None:
    """The seq of a change received since start-up and waiting for the next restart, if any."""
    return run(lambda conn: conn.execute("SELECT max(seq) FROM config_changes WHERE status = 'pending'").fetchone()[0])
