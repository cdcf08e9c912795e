"""The GNSS service the capture daemon holds: one worker thread, a track of fixes, and health.

The daemon asks `position_at(frame.mono_ns)` for every read and gets an honest answer (method and
fix age included) whatever the receiver is doing; the worker owns the receiver, reconnects it,
and reports health through `on_event` as transitions, not as a stream: receiver lost / back,
system clock drifting from GPS time / agreeing again.
"""

from __future__ import annotations

import logging
import statistics
import threading
from collections import Counter, deque
from datetime import date
from typing import Callable

from firmware.clock import Clock
from firmware.gnss.config import GnssConfig
from firmware.gnss.epoch import DEFAULT_MAX_DATE, Fix
from firmware.gnss.sources import NmeaStream, run_file, run_gpsd, run_serial
from firmware.gnss.timesync import ChronySock
from firmware.gnss.track import Track, TrackRules
from firmware.records import Position

log = logging.getLogger(__name__)
OnEvent = Callable[[str, str, dict], None]
OFFSET_WINDOW = 15          # epochs in the clock-offset median
OFFSET_FRESH_S = 60.0       # GPS time older than this no longer vouches for the system clock


class GnssService:
    def __init__(self, config: GnssConfig, clock: Clock, on_event: OnEvent | None = None):
        self.config = config
        self.clock = clock
        self.on_event = on_event
        self.counters: Counter = Counter()
        self.track = Track(TrackRules(config.max_extrapolation_s, config.stale_after_s,
                                      config.max_interpolation_gap_s))
        self._stop = threading.Event()
        self._have_fix = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._connected = False
        self._link_reason = "not started"
        self._offsets: deque[float] = deque(maxlen=OFFSET_WINDOW)
        self._offset_at_ns: int | None = None
        self._offset_bad = False
        self._had_position = False          # the fix state last reported as an event
        self._fix_change_ns: int | None = None   # when the fix first differed from it (debounce)
        self._reported_down = False
        self._state: dict = {}
        self._chrony = ChronySock(config.chrony_socket if config.source == "serial" else None)

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None or self.config.source == "none":
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gnss", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._chrony.close()

    def wait_for_fix(self, timeout_s: float) -> bool:
        """True once a positioned fix has arrived; False after timeout_s (real seconds), or at
        once when there is no source or the worker has ended without one (missing replay file)."""
        if self.config.source == "none":
            return False
        steps = max(1, int(timeout_s / 0.1))
        for _ in range(steps):
            if self._have_fix.wait(timeout_s / steps):
                return True
            thread = self._thread
            if thread is None or not thread.is_alive():
                return self._have_fix.is_set()
        return self._have_fix.is_set()

    def _run(self) -> None:
        cfg = self.config
        try:
            if cfg.source == "file":
                run_file(cfg.file, cfg.replay_speed, cfg.replay_loop, self.clock, self._stop,
                         self._on_fix, self._on_link, self.counters)
            elif cfg.source == "serial":
                run_serial(cfg.port, cfg.baud, lambda: NmeaStream(self.counters, cfg.min_valid_date,
                                                                  self._max_date()),
                           self.clock, self._stop, self._on_fix, self._on_link, self.counters,
                           cfg.reconnect_backoff_max_s, cfg.silence_timeout_s, self._state)
            elif cfg.source == "gpsd":
                run_gpsd(cfg.gpsd_host, cfg.gpsd_port, self.clock, self._stop, self._on_fix, self._on_link,
                         self.counters, cfg.reconnect_backoff_max_s)
        except Exception:  # the worker must never die silently: say so, the daemon decides
            log.exception("gnss worker failed", extra={"event": "gps_worker_failed"})
            self._on_link(False, "worker failed")

    def _max_date(self) -> date:
        d = self.config.min_valid_date
        return min(DEFAULT_MAX_DATE, date(d.year + 19, d.month, min(d.day, 28)))

    # --- callbacks from the worker ---------------------------------------------------------------

    def _event(self, kind: str, detail: dict) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(kind, "gps", detail)
        except Exception:
            log.exception("gps on_event callback failed", extra={"event": "gps_event_callback_failed"})

    def _on_link(self, up: bool, reason: str) -> None:
        with self._lock:
            was_up = self._connected
            self._connected = up
            self._state["up"] = up
            self._link_reason = reason
        if (up and was_up) or (not up and self._reported_down):
            return  # transitions only: a port that keeps failing to open is one malfunction
        (log.info if up else log.warning)("gps receiver %s: %s", "up" if up else "down", reason,
                                          extra={"event": "gps_link", "up": up, "reason": reason})
        if up:
            # the first connection is news, not a recovery
            self._event("back_in_service" if self._reported_down else "info", {"reason": reason})
            self._reported_down = False
        else:
            self._reported_down = True
            self._event("malfunction", {"reason": reason})

    def _on_fix(self, fix: Fix) -> None:
        self.track.add(fix)
        self.counters["epochs_received"] += 1
        if fix.has_position:
            self._have_fix.set()
        self._debounce_fix(fix)
        if self.config.source != "file" and fix.time is not None:
            self._track_offset(fix)

    def _debounce_fix(self, fix: Fix) -> None:
        """'fix acquired' / 'fix lost' only once the new state has held fix_event_debounce_s (monotonic
        time of the epochs): a flickering fix is one event, and the flicker is counted."""
        if fix.has_position == self._had_position:
            if self._fix_change_ns is not None:
                self.counters["fix_flickers"] += 1
            self._fix_change_ns = None
            return
        if self._fix_change_ns is None:
            self._fix_change_ns = fix.mono_ns
        if (fix.mono_ns - self._fix_change_ns) / 1e9 < self.config.fix_event_debounce_s:
            return
        held_s = round((fix.mono_ns - self._fix_change_ns) / 1e9, 1)
        self._had_position, self._fix_change_ns = fix.has_position, None
        if fix.has_position:
            self._event("info", {"reason": "fix acquired", "mode": fix.mode, "sats": fix.sats, "held_s": held_s})
        else:
            self._event("info", {"reason": "fix lost", "lost_s": held_s})

    def _track_offset(self, fix: Fix) -> None:
        now_ns = self.clock.monotonic_ns()
        system_at_fix = self.clock.utc().timestamp() - (now_ns - fix.mono_ns) / 1e9
        sample = fix.time.timestamp() - system_at_fix
        if fix.has_position and self._chrony.send(system_at_fix, sample):
            self.counters["chrony_samples"] += 1
        with self._lock:
            self._offsets.append(sample)
            self._offset_at_ns = now_ns
            offset = statistics.median(self._offsets)
        bad = abs(offset) > self.config.clock_offset_warn_s
        if hasattr(self.clock, "source_name"):
            self.clock.source_name = "system-unsynced" if bad else "gps"
        if bad != self._offset_bad and len(self._offsets) >= 3:
            self._offset_bad = bad
            detail = {"reason": "clock offset", "offset_s": round(offset, 3),
                      "threshold_s": self.config.clock_offset_warn_s}
            (log.warning if bad else log.info)(
                "system clock %s GPS time by %.3f s", "differs from" if bad else "agrees with", offset,
                extra={"event": "gps_clock_offset", "offset_s": offset})
            self._event("warning" if bad else "info", detail)

    # --- queries from any thread -------------------------------------------------------------------

    def position_at(self, mono_ns: int) -> Position:
        return self.track.position_at(mono_ns)

    def clock_offset_s(self) -> float | None:
        """GPS time minus system time (median of recent epochs); None when not fresh."""
        with self._lock:
            if not self._offsets or self._offset_at_ns is None:
                return None
            if (self.clock.monotonic_ns() - self._offset_at_ns) / 1e9 > OFFSET_FRESH_S:
                if hasattr(self.clock, "source_name"):
                    self.clock.source_name = "system"
                return None
            return statistics.median(self._offsets)

    def status(self) -> dict:
        latest = self.track.latest
        last = self.track.last_fix()
        now = self.clock.monotonic_ns()
        offset = self.clock_offset_s()
        with self._lock:
            connected, reason = self._connected, self._link_reason
        return {
            "source": self.config.source,
            "connected": connected,
            "link": reason,
            "baud": self._state.get("baud"),
            "mode": latest.mode if latest else None,
            "quality": latest.quality if latest else None,
            "sats": latest.sats if latest else None,
            "hdop": latest.hdop if latest else None,
            "lat": round(last.lat, 7) if last else None,
            "lon": round(last.lon, 7) if last else None,
            "speed_mps": last.speed_mps if last else None,
            "gps_time": last.time.isoformat() if last and last.time else None,
            "fix_age_s": round((now - last.mono_ns) / 1e9, 3) if last else None,
            "clock_offset_s": round(offset, 3) if offset is not None else None,
            "clock_offset_warn": self._offset_bad,
            "counters": dict(self.counters),
        }
