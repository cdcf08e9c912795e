"""Position at a frame's capture time, from fixes keyed by the monotonic time they were received.

Fixes arrive once a second (or every 2 s on old receivers); at 100 km/h that is 28 m apart, so a
read takes the position *at its frame's capture instant*: interpolated between the fixes on either
side, or dead-reckoned from the last fix with its speed and course for a short, configured time.
Beyond that the last fix is reported as it is, and after `stale_after_s` it is flagged stale.
Every answer names its method and the age of the fix it rests on, so evidence never overstates.
Keying by monotonic receive time (not GPS time) makes this work the same for a live receiver and
for a replayed file with old dates; the receive latency is the same for every fix, so it cancels.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import deque
from dataclasses import dataclass, replace

from firmware.gnss.epoch import Fix
from firmware.records import Position

EARTH_RADIUS_M = 6_371_008.8
EXACT_NS = 50_000_000  # a frame within 50 ms of a fix's arrival is "at" the fix


@dataclass(frozen=True)
class TrackRules:
    max_extrapolation_s: float = 2.0
    stale_after_s: float = 10.0
    max_interpolation_gap_s: float = 5.0


def destination(lat: float, lon: float, track_deg: float, distance_m: float) -> tuple[float, float]:
    """Great-circle step from (lat, lon) along `track_deg` for `distance_m`."""
    if distance_m == 0:
        return lat, lon
    delta = distance_m / EARTH_RADIUS_M
    phi1, lam1, theta = math.radians(lat), math.radians(lon), math.radians(track_deg)
    phi2 = math.asin(math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(theta))
    lam2 = lam1 + math.atan2(math.sin(theta) * math.sin(delta) * math.cos(phi1),
                             math.cos(delta) - math.sin(phi1) * math.sin(phi2))
    lon2 = (math.degrees(lam2) + 540.0) % 360.0 - 180.0
    return math.degrees(phi2), lon2


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _lerp(a: float | None, b: float | None, w: float) -> float | None:
    if a is None or b is None:
        return a if w < 0.5 else b
    return a + (b - a) * w


def _lerp_angle(a: float | None, b: float | None, w: float) -> float | None:
    if a is None or b is None:
        return a if w < 0.5 else b
    diff = (b - a + 540.0) % 360.0 - 180.0
    return (a + diff * w) % 360.0


def _from_fix(fix: Fix, method: str, age_s: float, lat=None, lon=None, **over) -> Position:
    fields = dict(method=method, lat=fix.lat if lat is None else lat, lon=fix.lon if lon is None else lon,
                  alt_m=fix.alt_m, speed_mps=fix.speed_mps, track_deg=fix.track_deg, hdop=fix.hdop,
                  sats=fix.sats, mode=fix.mode, quality=fix.quality, fix_age_s=round(age_s, 3),
                  fix_time=fix.time)
    fields.update(over)
    return Position(**fields)


def position_from(fixes: list[Fix], mono_ns: int, rules: TrackRules, lost_ns: int | None = None) -> Position:
    """Pure rule: `fixes` are positioned fixes sorted by mono_ns; `lost_ns` is when the receiver
    first reported *no fix* after the last of them (None while it has not)."""
    if not fixes:
        return Position(method="none")
    keys = [f.mono_ns for f in fixes]
    i = bisect.bisect_right(keys, mono_ns)  # fixes[:i] are at or before mono_ns
    if i == 0:
        after = fixes[0]
        if after.mono_ns - mono_ns <= EXACT_NS:
            return _from_fix(after, "fix", (mono_ns - after.mono_ns) / 1e9)
        return Position(method="none")
    before = fixes[i - 1]
    age_s = (mono_ns - before.mono_ns) / 1e9
    if mono_ns - before.mono_ns <= EXACT_NS:
        return _from_fix(before, "fix", age_s)
    if i < len(fixes):
        after = fixes[i]
        gap_s = (after.mono_ns - before.mono_ns) / 1e9
        if after.mono_ns - mono_ns <= EXACT_NS and gap_s <= rules.max_interpolation_gap_s:
            return _from_fix(after, "fix", (mono_ns - after.mono_ns) / 1e9)
        if gap_s <= rules.max_interpolation_gap_s:
            w = (mono_ns - before.mono_ns) / (after.mono_ns - before.mono_ns)
            lon_b = after.lon
            if abs(after.lon - before.lon) > 180.0:  # across the antimeridian
                lon_b = after.lon - 360.0 if after.lon > before.lon else after.lon + 360.0
            lon = (before.lon + (lon_b - before.lon) * w + 540.0) % 360.0 - 180.0
            near = before if w < 0.5 else after
            fix_time = None
            if before.time is not None:
                fix_time = before.time
            return Position(
                method="interpolated", lat=before.lat + (after.lat - before.lat) * w, lon=lon,
                alt_m=_lerp(before.alt_m, after.alt_m, w), speed_mps=_lerp(before.speed_mps, after.speed_mps, w),
                track_deg=_lerp_angle(before.track_deg, after.track_deg, w), hdop=near.hdop, sats=near.sats,
                mode=min(before.mode, after.mode), quality=near.quality, fix_age_s=round(age_s, 3),
                fix_time=fix_time,
            )
    if lost_ns is not None and before is fixes[-1] and mono_ns >= lost_ns:
        return _from_fix(before, "stale", age_s)  # the receiver itself says it has lost the fix
    if age_s <= rules.max_extrapolation_s and before.speed_mps is not None and \
            (before.track_deg is not None or before.speed_mps < 0.5):
        track = before.track_deg if before.track_deg is not None else 0.0
        speed = before.speed_mps if before.speed_mps >= 0.5 else 0.0  # standing still: no drift
        lat, lon = destination(before.lat, before.lon, track, speed * age_s)
        return _from_fix(before, "extrapolated", age_s, lat=lat, lon=lon)
    if age_s <= rules.stale_after_s:
        return _from_fix(before, "fix", age_s)
    return _from_fix(before, "stale", age_s)


class Track:
    """The recent positioned fixes, thread-safe: the worker adds, capture threads ask."""

    def __init__(self, rules: TrackRules, keep: int = 900):
        self.rules = rules
        self._fixes: deque[Fix] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self.latest: Fix | None = None   # the latest epoch, positioned or not
        self._lost_ns: int | None = None

    def add(self, fix: Fix) -> None:
        with self._lock:
            self.latest = fix
            if not fix.has_position:
                if self._fixes and self._lost_ns is None:
                    self._lost_ns = fix.mono_ns
                return
            self._lost_ns = None
            if self._fixes and fix.mono_ns < self._fixes[-1].mono_ns:
                self._fixes.clear()  # monotonic keys only go forward; a new source starts afresh
            if self._fixes and self._fixes[-1].tod_us == fix.tod_us and fix.tod_us is not None:
                # an amended epoch (gpsd's partial TPVs, a late sentence) replaces its first version
                # but keeps the time it first arrived, which is the closest to its instant
                self._fixes[-1] = replace(fix, mono_ns=self._fixes[-1].mono_ns)
            else:
                self._fixes.append(fix)

    def clear(self) -> None:
        with self._lock:
            self._fixes.clear()
            self.latest = None
            self._lost_ns = None

    def last_fix(self) -> Fix | None:
        with self._lock:
            return self._fixes[-1] if self._fixes else None

    def position_at(self, mono_ns: int) -> Position:
        with self._lock:
            fixes = list(self._fixes)
            lost_ns = self._lost_ns
        if len(fixes) > 8:  # only the neighbourhood matters; keep the copy small
            keys = [f.mono_ns for f in fixes]
            i = bisect.bisect_right(keys, mono_ns)
            fixes = fixes[max(0, i - 2):i + 2]
        return position_from(fixes, mono_ns, self.rules, lost_ns)

