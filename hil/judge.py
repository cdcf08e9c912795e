"""The judge: what the unit produced, set against what the scenario says it must have produced.

Evidence is taken only from outside: what the recorder heard on the broker, copies of the unit's
database made through SQLite's backup API (the daemon keeps writing), its exit codes and HTTP answers.
The checks are plain functions over those facts, so each failure names the plate, id or event.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from firmware.clock import parse_iso_utc
from hil.gps import distance_m

KINDS = {"read": "reads", "hit": "hits", "event": "events", "audit": "audit_log"}
CLIP_SLACK_S = 1.0


def _ids(db: Path) -> dict[str, set[str]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {kind: {r[0] for r in conn.execute(f"SELECT id FROM {table}")} for kind, table in KINDS.items()}
    finally:
        conn.close()


@dataclass
class Evidence:
    scenario: object
    vehicles: list
    gps: object
    recorder: object
    snapshot: Path
    target: object
    data_dir: str
    stored_before_stop: dict[str, set[str]] = field(default_factory=dict)
    exit_codes: list = field(default_factory=list)
    kill_times: list[float] = field(default_factory=list)
    final_db: Path | None = None
    screen_url: str | None = None
    screen_failures: list[str] = field(default_factory=list)
    alert_edges: list[float] | None = None   # bench: rising edges on the buzzer read-back line
    shown_at: float | None = None            # bench: when the monitor showed frame 0 (rig clock)

    def delivered(self) -> dict[str, set[str]]:
        return {kind: {m.id for m in self.recorder.of(kind)} for kind in KINDS}

    def undelivered(self) -> dict[str, set[str]]:
        got = self.delivered()
        return {k: v - got[k] for k, v in self.stored_before_stop.items() if v - got[k]}

    def await_delivery(self, timeout_s: float) -> None:
        """Snapshot the database until everything it holds has reached the recorder (or time is up)."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.target.snapshot_db(self.data_dir, self.snapshot):
                try:
                    self.stored_before_stop = _ids(self.snapshot)
                except sqlite3.DatabaseError:
                    pass
            if not self.undelivered() or time.monotonic() >= deadline:
                return
            time.sleep(1.0)

    def final(self, exit_codes: list, kills: list[float]) -> None:
        self.exit_codes = list(exit_codes)
        self.kill_times = list(kills)
        final = self.snapshot.with_name("final.db")
        if self.target.snapshot_db(self.data_dir, final):
            self.final_db = final


@dataclass
class Result:
    failures: list[str] = field(default_factory=list)
    figures: dict = field(default_factory=dict)


def _source_matches(pattern: str, source: str) -> bool:
    return source.startswith(pattern[:-1]) if pattern.endswith("*") else source == pattern


def _reason(detail: str | None):
    try:
        return (json.loads(detail or "{}") or {}).get("reason")
    except (ValueError, AttributeError):
        return None


def _event_matches(want, kind, source, reason) -> bool:
    return kind == want.kind and _source_matches(want.source, source or "") and \
        (want.reason is None or reason == want.reason)


def _describe(want) -> str:
    return f"{want.kind}/{want.source}" + (f" ({want.reason})" if want.reason else "")


def judge(ev: Evidence) -> Result:
    r = Result()
    s, expect = ev.scenario, ev.scenario.expect
    last_rc = ev.exit_codes[-1] if ev.exit_codes else None
    if last_rc not in expect.exit_codes:
        r.failures.append(f"daemon exit code {last_rc}, expected one of {expect.exit_codes}")
    db = ev.final_db or (ev.snapshot if ev.snapshot.exists() else None)
    if db is None:
        r.failures.append("no database could be read from the unit")
        return r
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        reads = [dict(x) for x in conn.execute("SELECT * FROM reads ORDER BY captured_at")]
        hits = [dict(x) for x in conn.execute(
            "SELECT h.id, h.created_at, r.plate, r.frame_seq, r.captured_at FROM hits h JOIN reads r ON r.id = h.read_id")]
        events = [dict(x) for x in conn.execute("SELECT id, kind, source, detail FROM events ORDER BY at")]
        audit = [x[0] for x in conn.execute("SELECT event FROM audit_log")]
        live_entries = conn.execute("SELECT count(*) FROM hotlist_entries e JOIN hotlists h ON h.id = e.list_id"
                                    " AND h.staging = 0").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        r.failures.append(f"the unit's database cannot be read: {exc}")
        return r
    finally:
        conn.close()
    _reads(ev, reads, r)
    _hits(ev, reads, hits, r)
    _delivery(ev, r)
    seen = {(e["kind"], e["source"]) for e in events}
    delivered = [m.body or {} for m in ev.recorder.of("event")]
    for want in expect.events:
        mine = [e for e in events if _event_matches(want, e["kind"], e["source"], _reason(e["detail"]))]
        if not mine:
            r.failures.append(f"expected event {_describe(want)} not recorded (recorded: {sorted(seen)})")
            continue
        if want.count is not None and len(mine) != want.count:
            r.failures.append(f"{len(mine)} events {_describe(want)}, expected {want.count}")
        stored_early = {e["id"] for e in mine} & ev.stored_before_stop.get("event", set())
        if expect.delivered_exactly_once and stored_early and not any(
                _event_matches(want, d.get("kind"), d.get("source") or "", (d.get("detail") or {}).get("reason"))
                for d in delivered):
            r.failures.append(f"event {_describe(want)} recorded but never delivered")
    for unwanted in expect.no_events:
        found = [e["source"] for e in events if _event_matches(unwanted, e["kind"], e["source"], _reason(e["detail"]))]
        if found:
            r.failures.append(f"unexpected event {_describe(unwanted)} ({len(found)}x)")
    for name in expect.audit:
        if name not in audit:
            r.failures.append(f"expected audit entry '{name}' missing (have: {sorted(set(audit))})")
    health = [m.body or {} for m in ev.recorder.of("health")]
    if len(health) < expect.min_health_reports:
        r.failures.append(f"{len(health)} health reports received, expected at least {expect.min_health_reports}")
    cameras = {c.get("camera") for h in health for c in (h.get("cameras") or []) if isinstance(c, dict)}
    if health and expect.min_health_reports and "front" not in cameras:
        r.failures.append(f"health reports never name the camera 'front' (named: {sorted(map(str, cameras))})")
    if expect.hotlist_entries is not None and live_entries != expect.hotlist_entries:
        r.failures.append(f"{live_entries} live hotlist entries, expected {expect.hotlist_entries}")
    if expect.max_reads_kept is not None and len(reads) > expect.max_reads_kept:
        r.failures.append(f"{len(reads)} reads still stored, expected at most {expect.max_reads_kept} (purge)")
    if expect.min_reads_kept is not None and len(reads) < expect.min_reads_kept:
        r.failures.append(f"only {len(reads)} reads still stored, expected at least {expect.min_reads_kept}")
    if ev.scenario.expect.screen:
        if ev.screen_url is None:
            r.figures["screen"] = "skipped: this daemon has no [screen] section"
        r.failures += ev.screen_failures
    r.figures.update(reads=len(reads), hits=len(hits), events=len(events), audit=len(audit),
                     uplink_messages=len(ev.recorder.messages))
    return r


def _first_run(read: dict, ev: Evidence) -> bool:
    return not ev.kill_times or parse_iso_utc(read["captured_at"]).timestamp() < ev.kill_times[0]


def _reads(ev: Evidence, reads: list[dict], r: Result) -> None:
    s, expect = ev.scenario, ev.scenario.expect
    by_plate: dict[str, list[dict]] = {}
    for read in reads:
        by_plate.setdefault(read["plate"], []).append(read)
    wanted = s.expected_reads()
    delivered_plates = {(m.body or {}).get("plate") for m in ev.recorder.of("read")}   # purged since, yet read
    missed = [p for p in wanted if p not in by_plate and p not in delivered_plates]
    if len(missed) > expect.max_missed_reads:
        r.failures.append(f"plates not read: {missed} (allowed to miss {expect.max_missed_reads})")
    if expect.max_reads_per_plate is not None:
        for plate, mine in sorted(by_plate.items()):
            if len(mine) > expect.max_reads_per_plate:
                r.failures.append(f"{plate} read {len(mine)} times (at most {expect.max_reads_per_plate})")
    windows = {v.plate: (v.enter_s, v.leave_s) for v in ev.vehicles}
    for read in reads:
        window = windows.get(read["plate"])
        if window is None or not _first_run(read, ev):
            continue
        clip_t = read["frame_seq"] / s.fps
        if not window[0] - CLIP_SLACK_S <= clip_t <= window[1] + CLIP_SLACK_S:
            r.failures.append(f"read {read['plate']} at clip {clip_t:.1f} s, vehicle in view {window[0]:.1f}-{window[1]:.1f} s")
    unknown = sorted({x["plate"] for x in reads} - set(windows))
    r.figures["misreads"] = unknown
    unpositioned = [x["plate"] for x in reads if x["position_method"] in ("none", "stale")]
    if expect.all_positioned and unpositioned:
        r.failures.append(f"reads without a current position: {unpositioned}")
    if expect.position_within_m is not None:
        worst = 0.0
        for read in reads:
            if read["lat"] is None or read["position_method"] in ("none", "stale"):
                continue
            if read.get("clock_suspect"):   # the unit itself says its stamp is on a clock it found wrong
                r.figures["clock_suspect_reads"] = r.figures.get("clock_suspect_reads", 0) + 1
                continue
            # where the route was when the unit's fix was taken: a read may carry an aged fix (it says
            # how old), never a position the car was not at
            aged = read["fix_age_s"] or 0.0 if read["position_method"] == "fix" else 0.0
            when = parse_iso_utc(read["captured_at"]) - timedelta(seconds=aged)
            lat, lon = ev.gps.position_at(when)
            off = distance_m(lat, lon, read["lat"], read["lon"])
            worst = max(worst, off)
            if off > expect.position_within_m:
                r.failures.append(f"read {read['plate']} placed {off:.0f} m from the route at its time "
                                  f"(allowed {expect.position_within_m:.0f} m)")
        r.figures["worst_position_error_m"] = round(worst, 1)


def _hits(ev: Evidence, reads: list[dict], hits: list[dict], r: Result) -> None:
    s, expect = ev.scenario, ev.scenario.expect
    hit_plates = {h["plate"] for h in hits}
    for plate in expect.hits:
        if plate not in hit_plates:
            r.failures.append(f"expected hit on {plate} missing")
    unexpected = sorted(hit_plates - set(expect.hits) - set(expect.may_hit))
    if unexpected:
        r.failures.append(f"unexpected hits: {unexpected}")
    first = [x for x in reads if _first_run(x, ev)]
    if not first:
        return
    # the unit's clock when frame 0 was shown: every read says when its frame_seq was captured
    t0 = statistics.median(parse_iso_utc(x["captured_at"]).timestamp() - x["frame_seq"] / s.fps for x in first)
    enters = {v.plate: v.enter_s for v in ev.vehicles}
    latencies = []
    for plate in expect.hits:
        mine = [h for h in hits if h["plate"] == plate and _first_run(h, ev)]
        if not mine:
            continue
        created = min(parse_iso_utc(h["created_at"]).timestamp() for h in mine)
        latency_ms = (created - (t0 + enters[plate])) * 1000
        latencies.append(latency_ms)
        if latency_ms > expect.hit_within_ms:
            r.failures.append(f"hit on {plate} stored {latency_ms:.0f} ms after the vehicle appeared "
                              f"(allowed {expect.hit_within_ms:.0f} ms)")
    if latencies:
        r.figures["hit_latency_ms"] = [round(x) for x in latencies]
    if ev.alert_edges is not None:   # bench: the wire must have sounded for every hit, in time
        base = ev.shown_at if ev.shown_at is not None else t0
        for plate in expect.hits:
            start = base + enters[plate]
            if not any(start <= e <= start + expect.hit_within_ms / 1000 for e in ev.alert_edges):
                r.failures.append(f"no alert edge on the read-back line within {expect.hit_within_ms:.0f} ms of {plate}")


def _delivery(ev: Evidence, r: Result) -> None:
    expect = ev.scenario.expect
    got = ev.delivered()
    messages = ev.recorder.messages
    counted = [m for m in messages if m.kind in KINDS]
    r.figures["duplicates_delivered"] = len(counted) - len({(m.kind, m.id) for m in counted})
    if not expect.delivered_exactly_once:
        return
    for kind, ids in ev.undelivered().items():
        r.failures.append(f"{len(ids)} stored {kind} record(s) never delivered, e.g. {sorted(ids)[:3]}")
    if ev.final_db is not None:
        final = _ids(ev.final_db)
        for kind in ("read", "hit"):
            lost = got[kind] - final[kind]
            if lost and expect.min_reads_kept is None and expect.max_reads_kept is None:
                r.failures.append(f"{len(lost)} {kind} record(s) delivered but no longer stored on the unit "
                                  f"(rolled back or lost), e.g. {sorted(lost)[:3]}")


def check_screen(ev: Evidence, user: str, pin: str) -> list[str]:
    """HTTP checks against the unit's screen while it runs, logged in as the rig's officer (sent in the
    signed roster); the hits must be on it as the officer would see them."""
    import http.cookiejar
    import urllib.parse

    out: list[str] = []
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    try:
        form = urllib.parse.urlencode({"user": user, "pin": pin}).encode()
        with opener.open(ev.screen_url + "/login", data=form, timeout=15) as resp:
            if "/login" in resp.url:
                out.append("screen: the rig's officer could not log in")
    except (OSError, urllib.error.HTTPError) as exc:
        return [f"screen: login failed: {exc}"]
    for check in ev.scenario.expect.screen:
        try:
            with opener.open(ev.screen_url + check.path, timeout=15) as resp:
                status, body = resp.status, resp.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            status, body = exc.code, ""
        except OSError as exc:
            out.append(f"screen {check.path}: {exc}")
            continue
        if status != check.status:
            out.append(f"screen {check.path} answered {status}, expected {check.status}")
        if check.contains_hits:
            missing = [p for p in ev.scenario.expect.hits if p not in body]
            if missing:
                out.append(f"screen {check.path} does not show hits {missing}")
    return out


__all__ = ["Evidence", "Result", "judge", "json", "datetime", "timedelta"]
