"""Applies verified downlink messages: hotlists (chunked), the user roster, preservation holds, config.

Messages arrive on paho's network thread and are queued (bounded in count and bytes) to one worker,
which verifies them (firmware.sync.downlink) and applies each in a single writer transaction together
with its audit entry and the stream's new sequence number. A rejection is recorded as a `security`
event and audited; a message dropped unread (too large, queue full, a hotlist chunk with no signed
manifest) is audited too, in one summary entry per DROP_FLUSH_S. Hotlist chunks are held only for a
transfer a verified manifest opened (firmware.sync.transfers). Nothing received is executed; config
changes are stored for a technician to apply.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any, Callable

from firmware.clock import Clock, iso_utc
from firmware.config_changes import deep_merge, validation_summary
from firmware.retention.audit import append_audit
from firmware.storage.db import Writer
from firmware.sync.config import SyncConfig
from firmware.sync.downlink import Rejected, Verified, load_public_key, verify
from firmware.sync.inbox_transfers import DOWNLINK_USER, HotlistChunks
from firmware.sync.messages import parse_downlink_topic

log = logging.getLogger(__name__)
PROTECTED_CONFIG = {("unit", "id"), ("unit", "data_dir"), ("sync", "downlink_public_key"), ("sync", "ca_file"),
                    ("sync", "cert_file"), ("sync", "key_file")}
SECURITY_EVENTS_PER_MIN = 120


def record_event(conn, kind: str, source: str, detail: dict, at) -> None:
    """The lead's events helper (stored and queued for sync)."""
    from firmware.storage.reads import record_event as _record

    _record(conn, kind, source, detail, at)


def _paths(overlay: dict, prefix: tuple = ()) -> list[tuple]:
    found = []
    for key, value in overlay.items():
        found.append(prefix + (key,))
        if isinstance(value, dict):
            found.extend(_paths(value, prefix + (key,)))
    return found


def validate_config_overlay(overlay: dict, base: dict) -> dict:
    """The overlay applied to the current config must still be a valid unit config. Returns the result."""
    from pydantic import ValidationError

    from firmware.config import UnitConfig

    touched = set(_paths(overlay))
    protected = sorted(".".join(p) for p in touched & PROTECTED_CONFIG)
    if protected:
        raise Rejected("protected_config", f"cannot be changed over the downlink: {', '.join(protected)}")
    try:
        return UnitConfig.model_validate(deep_merge(base, overlay)).model_dump(mode="json")
    except ValidationError as exc:
        raise Rejected("invalid", validation_summary(exc)) from None


def _report_summary(report) -> dict:
    """A hotlist load's report for the audit entry: counts, encoding and the first bad lines by number."""
    from firmware.hotlist.store import AUDITED_ERRORS

    summary = report.as_dict()
    summary["errors"] = summary["errors"][:AUDITED_ERRORS]
    return summary


def _refuse_replay(conn, v: Verified) -> None:
    row = conn.execute("SELECT seq FROM sync_downlink_state WHERE stream = ?", (v.stream,)).fetchone()
    if row is not None and v.seq <= row[0]:
        raise Rejected("replay", f"seq {v.seq} not after {row[0]} on {v.stream}")


class DownlinkInbox(HotlistChunks):
    def __init__(self, config: SyncConfig, writer: Writer, unit_id: str, clock: Clock,
                 on_event: Callable[[str, str, dict], None] | None = None,
                 base_config: Callable[[], dict] | None = None, max_queue: int = 4096):
        self.config = config
        self.writer = writer
        self.unit_id = unit_id
        self.clock = clock
        self.on_event = on_event
        self.base_config = base_config
        self.key_error: str | None = None
        try:
            self.key = load_public_key(config.downlink_public_key)
        except (OSError, ValueError) as exc:
            self.key, self.key_error = None, str(exc)
            log.error("downlink key unusable", extra={"event": "sync.downlink_key_error", "error": str(exc)})
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._queued_bytes = 0            # a burst of retained hotlist chunks is bounded in bytes too
        self._max_queued_bytes = config.downlink_buffer_bytes
        self._init_transfers(config)
        self._window_start, self._window_count, self._suppressed = 0.0, 0, 0
        self.accepted = 0
        self.rejected = 0
        self.duplicates = 0

    # --- network thread ---------------------------------------------------------------------------
    def submit(self, topic: str, payload: bytes, retained: bool = False) -> None:
        try:
            if self._queued_bytes + len(payload) > self._max_queued_bytes:
                raise queue.Full
            self._queue.put_nowait((topic, payload))
            self._queued_bytes += len(payload)
        except queue.Full:
            self._count_drop("queue_full", len(payload))
            log.warning("downlink queue full; message dropped", extra={"event": "sync.downlink_drop"})

    # --- worker -----------------------------------------------------------------------------------
    def run(self, stop_event: threading.Event) -> None:
        while not stop_event.is_set():
            try:
                topic, payload = self._queue.get(timeout=0.2)
            except queue.Empty:
                self.tick()
                continue
            try:
                if isinstance(payload, int):
                    self._reject(topic, b"", Rejected("oversize", f"{payload} bytes, limit"
                                                                  f" {self.config.downlink_max_message_bytes}"),
                                 size=payload)
                else:
                    self._queued_bytes -= len(payload)
                    self.handle(topic, payload)
                self.tick()
            except Exception:  # noqa: BLE001 - one bad message must not stop the downlink
                log.exception("downlink handler failed", extra={"event": "sync.downlink_error"})

    def handle(self, topic: str, payload: bytes) -> str:
        """Process one message synchronously; returns accepted | rejected | duplicate | pending | cleared."""
        if not payload:
            # the agency cleared a retained message (zero-length publish): nothing to trust or apply
            log.debug("retained downlink message cleared", extra={"event": "sync.downlink_cleared"})
            return "cleared"
        parsed = parse_downlink_topic(topic, self.config.agency)
        if parsed is None:
            return self._reject(topic, payload, Rejected("wrong_topic", "not a downlink topic"))
        if parsed.kind == "hotlist" and len(parsed.rest) == 3:
            return self._chunk(topic, parsed.rest, payload)
        try:
            verified = verify(payload, self.key, topic=parsed, agency=self.config.agency, unit_id=self.unit_id,
                              now=self.clock.utc(), max_age_s=self.config.downlink_max_age_s,
                              last=self._last_seq)
        except Rejected as exc:
            return self._reject(topic, payload, exc)
        if verified.duplicate:
            self.duplicates += 1
            return "duplicate"
        if verified.kind == "hotlist":
            return self._manifest(topic, payload, verified)
        return self._apply(topic, verified, None)

    def _last_seq(self, stream: str) -> tuple[int, str] | None:
        row = self.writer.call(lambda c: c.execute("SELECT seq, digest FROM sync_downlink_state WHERE stream = ?",
                                                   (stream,)).fetchone())
        return (row[0], row[1]) if row else None

    def _apply(self, topic: str, v: Verified, content: bytes | None) -> str:
        at = self.clock.utc()

        def record(conn, summary: dict) -> None:
            """The sequence number and the audit entry, in the transaction that applied the message."""
            conn.execute("INSERT INTO sync_downlink_state (stream, seq, digest, accepted_at) VALUES (?, ?, ?, ?)"
                         " ON CONFLICT(stream) DO UPDATE SET seq = excluded.seq, digest = excluded.digest,"
                         " accepted_at = excluded.accepted_at", (v.stream, v.seq, v.digest, iso_utc(at)))
            append_audit(conn, unit_id=self.unit_id, event="downlink_accepted", at=at, user=DOWNLINK_USER,
                         purpose="downlink", detail={"kind": v.kind, "stream": v.stream, "seq": v.seq,
                                                     "topic": topic, "issued_at": iso_utc(v.issued_at),
                                                     "summary": summary})

        def job(conn) -> dict:
            _refuse_replay(conn, v)
            summary = self._apply_kind(conn, v, content, at)
            record(conn, summary)
            return summary

        try:
            if v.kind == "hotlist" and v.data.mode == "replace":
                summary = self._replace_hotlist(v, content, at, record)
            else:
                summary = self.writer.call(job)
        except Rejected as exc:
            return self._reject(topic, b"", exc, stream=v.stream, seq=v.seq)
        except Exception as exc:  # noqa: BLE001 - content the subsystem refused (bad hotlist rows, bad hold)
            return self._reject(topic, b"", Rejected("invalid", f"{type(exc).__name__}: {exc}"),
                                stream=v.stream, seq=v.seq)
        self.accepted += 1
        self._accepted_seq[v.stream] = v.seq
        log.info("downlink message applied", extra={"event": "sync.downlink_accepted", "kind": v.kind,
                                                    "stream": v.stream, "seq": v.seq})
        return "accepted"

    def _replace_hotlist(self, v: Verified, content: bytes, at, record: Callable) -> dict:
        """A whole-list downlink in small transactions (`staged.py`): a 2,000,000-row NCIC list in one
        transaction would hold the writer ~10 s and every read behind it. The swap, the sequence
        number and the audit entry still commit together; a replay is refused before any row is staged."""
        from firmware.hotlist.staged import import_hotlist_staged

        data = v.data
        self.writer.call(lambda conn: _refuse_replay(conn, v))
        summary: dict = {}

        def on_swap(conn, report) -> None:
            _refuse_replay(conn, v)  # again: another message on the stream may have landed meanwhile
            summary.update(name=data.name, sha256=data.sha256, report=_report_summary(report))
            record(conn, summary)

        import_hotlist_staged(self.writer.call, content, name=data.name, fmt=data.format,
                              list_source=data.list_source, category=data.category, priority=data.priority,
                              alert=data.alert, at=at, unit_id=self.unit_id, user=DOWNLINK_USER, on_swap=on_swap)
        return summary

    def _apply_kind(self, conn, v: Verified, content: bytes | None, at) -> dict:
        data = v.data
        if v.kind == "hotlist":
            from firmware.hotlist.store import import_hotlist

            report = import_hotlist(conn, content, name=data.name, fmt=data.format, mode=data.mode,
                                    list_source=data.list_source, category=data.category, priority=data.priority,
                                    alert=data.alert, at=at, unit_id=self.unit_id, user=DOWNLINK_USER)
            return {"name": data.name, "sha256": data.sha256, "report": _report_summary(report)}
        if v.kind == "roster":
            return self._apply_roster(conn, data, v.seq, at)
        if v.kind == "hold":
            from firmware.retention import holds

            if data.action == "add":
                if not data.hold:
                    raise Rejected("invalid", "add needs a hold")
                hold_id = holds.add_hold(conn, {**data.hold, "source": "downlink"}, at=at, unit_id=self.unit_id,
                                         user=DOWNLINK_USER, max_window=self._hold_window())
                return {"action": "add", "id": hold_id}
            if not data.id:
                raise Rejected("invalid", f"{data.action} needs an id")
            if data.action == "renew":
                holds.renew_hold(conn, data.id, at=at, unit_id=self.unit_id, user=DOWNLINK_USER,
                                 statement_ref=data.statement_ref, source="downlink")
            else:
                holds.release_hold(conn, data.id, at=at, unit_id=self.unit_id, user=DOWNLINK_USER,
                                   reason=data.reason, source="downlink")
            return {"action": data.action, "id": data.id}
        if v.kind == "audit_checkpoint":
            return self._apply_checkpoint(conn, v, at)
        if v.kind == "config":
            base = self.base_config() if self.base_config else {}
            validate_config_overlay(data.overlay, base)
            conn.execute("UPDATE config_changes SET status = 'superseded' WHERE status = 'pending'")
            conn.execute("INSERT INTO config_changes (seq, received_at, issued_at, overlay) VALUES (?, ?, ?, ?)",
                         (v.seq, iso_utc(at), iso_utc(v.issued_at), json.dumps(data.overlay, sort_keys=True)))
            return {"keys": sorted(".".join(p) for p in _paths(data.overlay))}
        raise Rejected("wrong_topic", v.kind)

    def _apply_checkpoint(self, conn, v: Verified, at) -> dict:
        """Stored as sent; whether it matches this unit's entry is `audit verify`'s finding (and noted here)."""
        if v.target != self.unit_id:
            raise Rejected("wrong_target", "an audit checkpoint is for one unit, not the fleet")
        row = conn.execute("SELECT hash FROM audit_log WHERE seq = ?", (v.data.through_seq,)).fetchone()
        conn.execute("INSERT INTO audit_checkpoints (seq, through_seq, head_hash, issued_at, received_at)"
                     " VALUES (?, ?, ?, ?, ?)",
                     (v.seq, v.data.through_seq, v.data.head_hash, iso_utc(v.issued_at), iso_utc(at)))
        return {"through_seq": v.data.through_seq,
                "matches": None if row is None else row[0] == v.data.head_hash}

    def _hold_window(self):
        """retention.hold_max_window_hours of the unit's config (the default when it is not known here)."""
        from datetime import timedelta

        from firmware.retention.holds import DEFAULT_MAX_WINDOW

        hours = ((self.base_config() if self.base_config else {}).get("retention") or {}).get("hold_max_window_hours")
        return timedelta(hours=hours) if hours else DEFAULT_MAX_WINDOW

    def _apply_roster(self, conn, roster, seq: int, at) -> dict:
        from firmware.roster import store_roster

        try:
            return store_roster(conn, roster, seq=seq, at=at)
        except ValueError as exc:
            raise Rejected("invalid", str(exc)) from None

    def _reject(self, topic: str, payload: bytes, exc: Rejected, stream: str | None = None,
                seq: int | None = None, size: int | None = None) -> str:
        self.rejected += 1
        detail: dict[str, Any] = {"reason": exc.reason, "detail": exc.detail[:500], "topic": topic[:256],
                                  "bytes": len(payload) if size is None else size}
        if stream is not None:
            detail.update(stream=stream, seq=seq)
        log.warning("downlink message rejected", extra={"event": "sync.downlink_rejected", "reason": exc.reason,
                                                        "topic": topic[:256]})
        now = time.monotonic()
        if now - self._window_start > 60:
            self._window_start, self._window_count = now, 0
        self._window_count += 1
        if self._window_count > SECURITY_EVENTS_PER_MIN:
            self._suppressed += 1  # a flood from the broker must not fill the disk; counted in the next record
            return "rejected"
        if self._suppressed:
            detail["suppressed_before"], self._suppressed = self._suppressed, 0
        at = self.clock.utc()
        on_event = self.on_event

        def job(conn) -> None:
            if on_event is None:  # the daemon's recorder stores events itself; alone, we do
                record_event(conn, "security", "sync.downlink", detail, at)
            append_audit(conn, unit_id=self.unit_id, event="downlink_rejected", at=at, user=DOWNLINK_USER,
                         purpose="downlink", detail=detail)

        try:
            self.writer.call(job)
        except Exception:  # noqa: BLE001
            log.exception("could not record a rejected downlink message", extra={"event": "sync.downlink_error"})
        if on_event is not None:
            on_event("security", "sync.downlink", detail)
        return "rejected"

    def status(self) -> dict:
        return {"accepted": self.accepted, "rejected": self.rejected, "duplicates": self.duplicates,
                "dropped": self.dropped, "stale_chunks": self.stale_chunks,
                "pending_hotlists": sorted(self.transfers.open_by_name), "transfers": self.transfers.status(),
                "queued_bytes": self._queued_bytes,
                "key": "configured" if self.key else ("error: " + self.key_error if self.key_error else "none")}
