"""Sentences to fix epochs: one Fix per receiver time-of-day, assembled from all its sentences.

A receiver speaks about one instant in several sentences (GGA has altitude and quality, RMC the
date, speed and course, GSA the 2D/3D mode and the satellites used), so a fix is only complete
when the epoch is: the time of day changes, or the sentence that ended the previous epoch comes
again (learned, like gpsd does, so live fixes are not a whole second late). Only RMC and ZDA
carry a date; GGA-only epochs borrow the last date and roll it over at midnight. Dates outside
[min_date, max_date] (week rollover, 1980 defaults, year -1) are rejected and counted, never used.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone

from firmware.gnss.nmea import Framer, Obs, decode

DAY_US = 86_400_000_000
DEFAULT_MIN_DATE = date(1990, 1, 1)
DEFAULT_MAX_DATE = date(2099, 12, 31)


@dataclass(frozen=True)
class Fix:
    """One epoch as the receiver reported it. mode 1 = no fix: lat/lon are then None."""

    mono_ns: int                      # monotonic time the epoch's first sentence was received
    time: datetime | None             # UTC of the epoch (None until a plausible date is known)
    mode: int                         # 1 no fix, 2 2D, 3 3D
    lat: float | None = None
    lon: float | None = None
    alt_m: float | None = None
    speed_mps: float | None = None
    track_deg: float | None = None
    hdop: float | None = None
    sats: int | None = None
    quality: int | None = None        # GGA quality: 0 none, 1 GPS, 2 DGPS, 4 RTK fixed, 5 RTK float, 6 DR
    tod_us: int | None = None

    @property
    def has_position(self) -> bool:
        return self.mode >= 2 and self.lat is not None and self.lon is not None

    def as_json(self) -> dict:
        """The `gps parse --json` line."""
        return {
            "time": _iso_ms(self.time) if self.time else None,
            "lat": _round(self.lat, 9), "lon": _round(self.lon, 9), "mode": self.mode,
            "quality": self.quality, "speed_mps": _round(self.speed_mps, 3),
            "track_deg": _round(self.track_deg, 2), "hdop": self.hdop, "sats": self.sats,
            "alt_m": _round(self.alt_m, 3),
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _iso_ms(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


class EpochAssembler:
    """Feed decoded sentences in arrival order; get back the epochs they complete."""

    def __init__(self, min_date: date = DEFAULT_MIN_DATE, max_date: date = DEFAULT_MAX_DATE,
                 counters: Counter | None = None, early_close: bool = False):
        self.min_date, self.max_date = min_date, max_date
        self.counters = counters if counters is not None else Counter()
        self.early_close = early_close
        self._obs: list[Obs] = []
        self._tod: int | None = None
        self._mono: int | None = None
        self._last_date: date | None = None
        self._last_tod: int | None = None
        self._ender: tuple[str, str] | None = None
        self._prev_key: tuple[str, str] | None = None
        self._closed_tod: int | None = None
        self._closed_obs: list[Obs] = []
        self._closed_mono: int | None = None

    def feed(self, obs: Obs, mono_ns: int) -> list[Fix]:
        done: list[Fix] = []
        key = (obs.talker, obs.kind)
        if obs.tod_us is not None and self._tod is not None and obs.tod_us != self._tod:
            self._ender = self._prev_key
            done.extend(self._close())
        if not self._obs:
            self._mono = mono_ns
        self._obs.append(obs)
        if obs.tod_us is not None and self._tod is None:
            self._tod = obs.tod_us
        self._prev_key = key
        if self.early_close and self._ender == key and self._tod is not None:
            done.extend(self._close())
        return done

    def flush(self) -> list[Fix]:
        return self._close()

    def _plausible(self, d: date | None) -> date | None:
        if d is None:
            return None
        if not self.min_date <= d <= self.max_date:
            self.counters["implausible_date"] += 1
            return None
        return d

    def _close(self) -> list[Fix]:
        obs, tod, mono = self._obs, self._tod, self._mono
        self._obs, self._tod, self._mono = [], None, None
        if not obs or tod is None:
            if obs:
                self.counters["untimed_sentences"] += len(obs)
            return []
        if tod == self._closed_tod and self._closed_obs:
            # sentences of an epoch that was closed early: re-assemble it whole, as first received
            obs, mono = self._closed_obs + obs, self._closed_mono
            self.counters["amended_epochs"] += 1
        self._closed_tod, self._closed_obs, self._closed_mono = tod, obs, mono
        epoch_date = None
        for o in obs:
            d = self._plausible(o.date) if o.date is not None else None
            if d is not None:
                epoch_date = d
        if epoch_date is None and self._last_date is not None:
            epoch_date = self._last_date
            if self._last_tod is not None and tod < self._last_tod - DAY_US // 2:
                epoch_date = epoch_date + timedelta(days=1)  # crossed UTC midnight without an RMC
        if epoch_date is not None:
            self._last_date = epoch_date
        self._last_tod = tod
        when = None
        if epoch_date is not None:
            when = datetime(epoch_date.year, epoch_date.month, epoch_date.day, tzinfo=timezone.utc) + \
                timedelta(microseconds=tod)
        fix = assemble(obs, mono or 0, when, tod)
        if fix.mode >= 2 and not fix.has_position:
            self.counters["fix_without_position"] += 1
            fix = replace(fix, mode=1)
        self.counters["epochs"] += 1
        self.counters["fixes" if fix.has_position else "no_fix_epochs"] += 1
        return [fix]


def assemble(obs: list[Obs], mono_ns: int, when: datetime | None, tod: int | None) -> Fix:
    """Merge one epoch's observations. Later sentences win, as in gpsd; 'invalid' always wins."""
    lat = lon = alt = speed = track = hdop = None
    sats = quality = gsa_mode = None
    gsa_sats = 0
    valid: bool | None = None
    invalid = False
    for o in obs:
        if o.valid is False:
            invalid = True
        elif o.valid:
            valid = True
        if o.lat is not None and o.valid is not False:
            lat, lon = o.lat, o.lon
        if o.alt_m is not None and o.valid is not False:
            alt = o.alt_m
        if o.speed_mps is not None:
            speed = o.speed_mps
        if o.track_deg is not None:
            track = o.track_deg
        if o.hdop is not None:
            hdop = o.hdop
        if o.sats is not None:
            sats = o.sats
        if o.quality is not None and (quality is None or o.kind == "GGA"):
            quality = o.quality
        if o.kind == "GSA":
            gsa_sats += o.gsa_sats
            if o.gsa_mode is not None:
                gsa_mode = o.gsa_mode if gsa_mode is None else max(gsa_mode, o.gsa_mode)
    if sats is None and gsa_sats:
        sats = gsa_sats
    has_fix = bool(valid) and not invalid and lat is not None
    if gsa_mode == 1 and valid is None:
        has_fix = False
    if not has_fix:
        return Fix(mono_ns, when, 1, sats=sats, hdop=hdop, quality=0 if quality is not None else None,
                   tod_us=tod)
    if gsa_mode in (2, 3):
        mode = gsa_mode
    else:
        mode = 3 if alt is not None else 2
    if mode == 2:
        alt = None
    return Fix(mono_ns, when, mode, lat, lon, alt, speed, track, hdop, sats, quality, tod)


def parse_bytes(data: bytes, min_date: date = DEFAULT_MIN_DATE, max_date: date = DEFAULT_MAX_DATE,
                counters: Counter | None = None) -> list[Fix]:
    """A whole capture to its epochs (mono_ns = line number, for ordering only)."""
    counters = counters if counters is not None else Counter()
    framer = Framer(counters)
    asm = EpochAssembler(min_date, max_date, counters)
    fixes: list[Fix] = []
    for number, line in enumerate(data.split(b"\n")):
        for sentence in framer.frame_line(line):
            obs = decode(sentence, counters)
            if obs is not None:
                fixes.extend(asm.feed(obs, number))
    fixes.extend(asm.flush())
    return fixes
