"""The screen as a daemon service: a uvicorn server in its own thread, fed by the alerter and the recorder.

Built by the composition root after the alerter (`build_screen`), stopped before it. Capture only ever
touches `ScreenSink.alert` and `on_read`, which append to bounded queues and return; a slow, stuck or
absent browser costs the pipeline nothing. Everything the page asks for runs on uvicorn's threads:
reads from read-only SQLite connections, writes as domain functions on the unit's one writer.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from firmware.clock import iso_utc
from firmware.malfunctions import malfunctions
from firmware.records import Read
from firmware.screen import gate
from firmware.screen.fields import BadInput, text, utc_time, whole_days
from firmware.screen.config import ScreenConfig
from firmware.screen.hub import Hub, ScreenSink
from firmware.screen.sessions import Session, Sessions
from firmware.storage.db import DB_NAME, connect

log = logging.getLogger(__name__)


def read_event(read: Read) -> dict:
    """A new read for the live view; a covert hit is not shown (the read looks like any other)."""
    shown = [h for h in read.hits if h.alert != "silent"]
    pos = read.position
    return {"id": read.id, "camera_id": read.camera_id, "plate": read.plate, "state": read.state,
            "confidence": round(read.confidence, 3), "captured_at": iso_utc(read.captured_at),
            "position_method": pos.method, "fix_age_s": pos.fix_age_s, "lat": pos.lat, "lon": pos.lon,
            "has_crop": read.crop_path is not None,
            "hits": [{"list": h.list_name, "priority": h.priority} for h in shown]}


class ScreenService:
    ACTIONS_SHOWN = ("health.view", "reads.view", "reads.search", "hits.view", "hits.verify", "hits.amend",
                     "hotlist.view", "hotlist.manual_view", "hotlist.manual_add", "hotlist.manual_extend")

    def __init__(self, config: ScreenConfig, unit):
        self.config = config
        self.unit = unit
        self.unit_id = unit.config.unit.id
        self.data_dir = Path(unit.data_dir)
        self.hub = Hub(config.client_queue)
        self.sink = ScreenSink(self.hub, serving=lambda: self._thread is not None and self._thread.is_alive())
        self.sessions = Sessions(self.data_dir, idle_s=config.session_idle_s, max_s=config.session_max_s)
        self.started_ms = time.time() * 1000
        self.port: int | None = None
        self._server = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self, timeout: float = 20) -> "ScreenService":
        import uvicorn

        from firmware.screen.web import build_app

        server_config = uvicorn.Config(build_app(self), host=self.config.host, port=self.config.port,
                                       log_config=None, access_log=False, lifespan="off",
                                       timeout_graceful_shutdown=2, log_level="warning")
        self._server = uvicorn.Server(server_config)
        self._thread = threading.Thread(target=self._server.run, name="screen-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise OSError(f"the screen could not listen on {self.config.listen}")
            time.sleep(0.02)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        log.info("screen listening", extra={"event": "screen.started", "address": self.address})
        return self

    @property
    def address(self) -> str:
        return f"http://{self.config.host}:{self.port or self.config.port}/"

    def stop(self) -> None:
        self.hub.close()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    # -- from capture (never blocks) ---------------------------------------------------------------
    def on_read(self, read: Read) -> None:
        self.hub.publish("read", read_event(read))

    # -- rules -------------------------------------------------------------------------------------
    def allowed(self, session: Session, action: str) -> bool:
        """What the page offers this session (its roles at login)."""
        return gate.allowed(session.roles, action)

    def permits(self, session: Session, action: str) -> bool:
        """Whether the roster still lets this user do `action` now (checked on every request)."""
        at = self._now()
        return self._read(lambda c: gate.permits(c, session.user, action, at)).ok

    def refused(self, session: Session, action: str, path: str) -> None:
        """Audit a request for an act the roster refuses this user (an `access_refused` entry, as the CLI)."""
        at = self._now()
        self._write(lambda conn: gate.authorize(conn, user=session.user, action=action, at=at,
                                                unit_id=self.unit_id, terms={"screen": path}))

    def _now(self) -> datetime:
        return self.unit.clock.utc()

    def _unack_after(self) -> timedelta:
        return timedelta(seconds=getattr(self.unit.config.alerts, "unacknowledged_after_s", 300))

    def _write(self, job):
        return self.unit.writer.call(job, timeout=30)

    def _read(self, job):
        conn = connect(self.data_dir / DB_NAME, readonly=True)
        try:
            return job(conn)
        finally:
            conn.close()

    def authenticate(self, user: str, secret: str):
        at = self._now()
        return self._write(lambda conn: gate.authenticate(conn, user=user, secret=secret, at=at,
                                                          unit_id=self.unit_id))

    def logout(self, session: Session, how: str) -> None:
        from firmware.retention.audit import append_audit

        self.sessions.revoke(session, time.time())
        at = self._now()
        self._write(lambda conn: append_audit(conn, unit_id=self.unit_id, event="logout", at=at, user=session.user,
                                              purpose="screen", detail={"session": session.sid, "how": how}))

    # -- views -------------------------------------------------------------------------------------
    def state(self, session: Session) -> dict:
        from firmware.retention.query import roster_entry
        from firmware.storage.reads import recent_reads

        now = self._now()
        health = self.unit.health()
        try:
            health["sync"] = self.unit.sync.status()
        except Exception:  # noqa: BLE001 - the bar shows what it can
            health["sync"] = None
        health["roster"] = {"present": self._read(lambda c: roster_entry(c, "")[0])}
        out_now = self._read(_out_of_service)
        if out_now:
            first = out_now[0]
            health["service"] = {"in_service": False, "reason": f"{first['component']}: {first['description']} "
                                                                f"(since {first['at'][:16].replace('T', ' ')} UTC)"}
        out = {"now": iso_utc(now), "user": session.user, "roles": list(session.roles),
               "status": status_bar(health),
               "malfunctions": malfunctions(health, now, min_free_mb=self.unit.config.unit.min_free_mb),
               "screen": self.hub.status()}
        if self.allowed(session, "reads.search"):
            out["purposes"] = list(self.unit.config.retention.purposes)
        if self.allowed(session, "reads.view"):
            out["reads"] = self._read(lambda c: recent_reads(c, self.config.recent_reads))
        if self.allowed(session, "hits.view"):
            out["hits"] = self._open_hits(now)
            out["confirmed"] = self._confirmed_hits(now)
            out["choices"] = _choices()
        return out

    def _open_hits(self, now: datetime) -> list[dict]:
        from firmware.dispositions import open_hits

        return self._read(lambda c: open_hits(c, now=now, unacknowledged_after=self._unack_after()))

    def _confirmed_hits(self, now: datetime, limit: int = 10) -> list[dict]:
        """Confirmed hits, newest first, for recording what came of them (arrest, seizure, recovery)."""
        from firmware.dispositions import DISPOSITIONS, all_hits, hit_detail

        def job(conn):
            rows = [h for h in all_hits(conn, now=now, limit=200)
                    if DISPOSITIONS.get(h["disposition"] or "", {}).get("kind") == "confirm"]
            rows.sort(key=lambda h: h["disposed_at"] or "", reverse=True)
            return [hit_detail(conn, h["id"], now=now) for h in rows[:limit]]

        return self._read(job)

    def hit_detail(self, session: Session, hit_id: str) -> dict:
        from firmware.dispositions import DispositionError, hit_detail

        try:
            return {"ok": True, "hit": self._read(lambda c: hit_detail(c, hit_id, now=self._now(),
                                                                        unacknowledged_after=self._unack_after()))}
        except DispositionError as exc:
            return {"ok": False, "error": str(exc)}

    def read_hits(self, session: Session, read_id: str) -> dict:
        """The open hits of one read (the page asks when an alert arrives, for the ids and full record)."""
        from firmware.dispositions import hit_detail

        now = self._now()
        ids = [h["id"] for h in self._open_hits(now) if h["read_id"] == read_id]
        return {"ok": True, "hits": self._read(lambda c: [
            hit_detail(c, i, now=now, unacknowledged_after=self._unack_after()) for i in ids])}

    def image_path(self, read_id: str, role: str) -> Path | None:
        from firmware.storage.reads import read_image

        rel = self._read(lambda c: read_image(c, read_id, role))
        if not rel:
            return None
        path = (self.data_dir / rel).resolve()
        if not path.is_relative_to(self.data_dir.resolve()) or not path.is_file():
            return None
        return path

    # -- actions (domain functions on the writer) --------------------------------------------------
    def _act(self, session: Session, action: str, domain, *, errors: tuple, purpose: str | None = None,
             terms: dict | None = None) -> dict:
        """Authorise (audited) and run one domain function in one writer transaction. A refusal by the
        domain rules rolls back the domain's writes only; the access entry stays."""
        at = self._now()
        terms = {k: v for k, v in (terms or {}).items() if v not in (None, "")}

        def job(conn):
            decision = gate.authorize(conn, user=session.user, action=action, at=at, unit_id=self.unit_id,
                                      purpose=purpose, terms=terms, config=self.unit.config.retention)
            if not decision.ok:
                return {"ok": False, "refused": True, "reason": decision.reason,
                        "error": f"Refused: {decision.message}. This attempt is logged."}
            conn.execute("SAVEPOINT screen_action")
            try:
                result = domain(conn, at)
            except errors as exc:
                conn.execute("ROLLBACK TO screen_action")
                conn.execute("RELEASE screen_action")
                return {"ok": False, "error": str(exc)}
            conn.execute("RELEASE screen_action")
            return {"ok": True, "result": result}

        return self._write(job)

    def record_step(self, session: Session, hit_id: str, step: str, body: dict) -> dict:
        from firmware import dispositions as d

        if step not in ("check", "disposition", "outcome"):
            return {"ok": False, "error": f"unknown step {step!r}"}
        try:
            note = text(body, "note").strip() or None
            fields = {"check": ("check", "result"), "disposition": ("disposition",), "outcome": ("outcome",)}[step]
            what = {name: text(body, name) for name in fields}
        except BadInput as exc:
            return {"ok": False, "error": str(exc)}
        common = {"user": session.user, "unit_id": self.unit_id, "note": note}
        amend = bool(body.get("amend"))
        if step == "check":
            domain = lambda c, at: d.record_check(c, hit_id, at=at, **what, **common)  # noqa: E731
        elif step == "disposition":
            domain = lambda c, at: d.record_disposition(c, hit_id, at=at, amend=amend, **what, **common)  # noqa: E731
        else:
            domain = lambda c, at: d.record_outcome(c, hit_id, at=at, **what, **common)  # noqa: E731
        result = self._act(session, "hits.amend" if amend else "hits.verify", domain, errors=(d.DispositionError,),
                           purpose="hit verification", terms={"hit_id": hit_id, "step": step, **what})
        if result["ok"]:
            self.hub.publish("hits_changed", {"hit_id": hit_id})
        return result

    def manual_list(self, session: Session) -> dict:
        from firmware.hotlist.manual import manual_entries

        return {"ok": True, "entries": self._read(lambda c: manual_entries(c, at=self._now()))}

    def manual_add(self, session: Session, body: dict) -> dict:
        from firmware.hotlist.manual import add_manual
        from firmware.hotlist.store import HotlistError

        try:
            days = whole_days(body)
            reason, plate = text(body, "reason").strip(), text(body, "plate")
            state, category = text(body, "state") or None, text(body, "category") or None
        except BadInput as exc:
            return {"ok": False, "error": str(exc)}
        result = self._act(session, "hotlist.manual_add", lambda c, at: add_manual(
            c, plate=plate, state=state, reason=reason, category=category,
            user=session.user, at=at, unit_id=self.unit_id, days=days), errors=(HotlistError,),
            purpose=reason, terms={"plate": plate, "days": days})
        if result["ok"]:
            self.unit.hotlists.refresh()   # the new entry matches from the next read on, not the next poll
        return result

    def manual_extend(self, session: Session, entry_id: int, body: dict) -> dict:
        from firmware.hotlist.manual import extend_manual
        from firmware.hotlist.store import HotlistError

        try:
            days = whole_days(body)
            why = text(body, "justification").strip()
        except BadInput as exc:
            return {"ok": False, "error": str(exc)}
        result = self._act(session, "hotlist.manual_extend", lambda c, at: extend_manual(
            c, entry_id, days=days, justification=why, user=session.user, at=at, unit_id=self.unit_id),
            errors=(HotlistError,), purpose=why, terms={"entry_id": entry_id, "days": days})
        if result["ok"]:
            self.unit.hotlists.refresh()
        return result

    def search(self, session: Session, body: dict) -> dict:
        from firmware.retention.query import query_reads

        try:
            terms = {k: text(body, k) or None for k in ("plate", "case_number", "from", "to")}
            purpose = text(body, "purpose")
            start, end = utc_time(body, "from"), utc_time(body, "to", end_of_day=True)
        except BadInput as exc:
            return {"ok": False, "error": str(exc)}
        result = self._act(session, "reads.search", lambda c, at: query_reads(
            c, config=self.unit.config.retention, unit_id=self.unit_id, at=at, user=session.user, purpose=purpose,
            plate=terms["plate"], case_number=terms["case_number"], start=start, end=end,
            limit=self.config.search_limit), errors=(), purpose=purpose, terms=terms)
        if not result["ok"]:
            return result
        found = result["result"]
        if not found["allowed"]:
            return {"ok": False, "refused": True, "reason": found["reason"], "error": _refusal(found["reason"])}
        return {"ok": True, "purpose": found["purpose"], "reads": found["reads"], "audit_id": found["audit_id"]}


def _out_of_service(conn) -> list[dict]:
    from firmware.retention.maintenance import out_of_service

    try:
        return out_of_service(conn)
    except sqlite3.Error:   # a database without the maintenance log: nothing to say
        return []


def _refusal(reason: str) -> str:
    return {"prohibited": "Refused: a prohibited purpose (traffic enforcement, crash investigation, commercial "
                          "use...). This attempt is logged.",
            "not_listed": "Refused: not a purpose the agency allows. This attempt is logged.",
            "no_user": "Refused: no user.",
            "user_not_authorised": "Refused: you are not an active user on the agency roster."}.get(
        reason, f"Refused: {reason}. This attempt is logged.")


def _choices() -> dict:
    from firmware import dispositions as d

    if hasattr(d, "choices"):
        return d.choices()
    return {"checks": {}, "dispositions": {}, "outcomes": {}}


def status_bar(health: dict) -> dict:
    """The few numbers the status bar shows, from Unit.health()."""
    gps = health.get("gps") or {}
    sync = health.get("sync") or {}
    return {
        "cameras": [{"id": c.get("camera"), "fps": c.get("fps"), "stalled": bool(c.get("stalled")),
                     "frozen": bool(c.get("frozen")),
                     "ended": bool(c.get("ended"))} for c in health.get("cameras") or []],
        "gps": {"connected": gps.get("connected"), "fix_age_s": gps.get("fix_age_s"), "sats": gps.get("sats")},
        "hotlists": [{"name": l.get("name"), "age_s": l.get("age_s"), "stale": bool(l.get("stale")),
                      "entries": l.get("entries")} for l in (health.get("hotlists") or {}).get("lists") or []],
        "sync": {"queued": sync.get("queued_total"), "connected": sync.get("connected"),
                 "enabled": sync.get("enabled")} if sync else None,
        "disk_free_mb": health.get("disk_free_mb"),
    }


def start_screen(config: ScreenConfig | None, unit) -> ScreenService | None:
    """The running screen for this unit; None when the config has no [screen] section, or when it cannot
    listen (a malfunction event: capture and the other alert outputs carry on without it)."""
    if config is None:
        return None
    service = ScreenService(config, unit)
    try:
        return service.start()
    except OSError as exc:
        service.stop()
        unit.record_event("malfunction", "screen", {"reason": str(exc), "listen": config.listen})
        return None
