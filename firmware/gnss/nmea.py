"""NMEA 0183 framing and field decoding: bytes in, plain observations out, never an exception.

Receivers put everything on one line: binary UBX/RTCM/CASIC frames, truncated sentences after a
buffer overrun, proprietary chatter, dates from a week rollover. So framing does not trust line
structure: it searches each chunk for `$..*hh` sentences, checks the checksum itself (binary junk
that happens to contain a '$' is rejected there), hands the sentence types we use to pynmea2 for
tokenising, and decodes the few fields we need with explicit range checks. Every rejection is
counted, so a bad cable shows up as numbers instead of silently wrong positions.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date

import pynmea2

# A sentence: '$', an address of 2..6 letters/digits, fields without '$' or '*', '*', two hex digits.
# '$' excluded from the body so a truncated sentence cannot swallow the next one.
_SENTENCE = re.compile(rb"\$([A-Z0-9]{2,6}),?([\x20-\x23\x25-\x29\x2b-\x7e]*)\*([0-9A-Fa-f]{2})")
_START = re.compile(rb"\$[A-Z0-9]{2,6},")
_BINARY = re.compile(rb"[\x00-\x08\x0a-\x0c\x0e-\x1f\x7f-\xff]")
USED_TYPES = frozenset({"GGA", "RMC", "VTG", "GSA", "GNS", "GLL", "ZDA", "GST"})
KNOTS_TO_MPS = 0.514444444
MAX_LINE = 4096


@dataclass(frozen=True)
class Obs:
    """What one sentence says. None means the sentence did not say (or said garbage)."""

    kind: str                      # GGA, RMC, ...
    talker: str
    tod_us: int | None = None      # UTC time of day, microseconds
    date: date | None = None
    lat: float | None = None
    lon: float | None = None
    valid: bool | None = None      # the sentence's own verdict on its fix
    quality: int | None = None     # GGA quality (or derived from a mode indicator)
    sats: int | None = None
    hdop: float | None = None
    alt_m: float | None = None
    speed_mps: float | None = None
    track_deg: float | None = None
    gsa_mode: int | None = None    # 1 no fix, 2 2D, 3 3D
    gsa_sats: int = 0


def checksum_ok(body: bytes, given: bytes) -> bool:
    value = 0
    for b in body:
        value ^= b
    return value == int(given, 16)


class Framer:
    """Turns a byte stream into checksummed sentences; keeps the unfinished tail between calls."""

    def __init__(self, counters: Counter | None = None):
        self.counters = counters if counters is not None else Counter()
        self._tail = b""

    def feed(self, chunk: bytes) -> list[str]:
        data = self._tail + chunk
        lines = data.split(b"\n")
        self._tail = lines.pop()
        if len(self._tail) > MAX_LINE:  # binary stream without newlines: do not grow forever
            cut = self._tail.rfind(b"$")
            cut = cut if cut > 0 and len(self._tail) - cut < 200 else len(self._tail)
            lines.append(self._tail[:cut])
            self._tail = self._tail[cut:]
        out: list[str] = []
        for line in lines:
            out.extend(self.frame_line(line))
        return out

    def flush(self) -> list[str]:
        tail, self._tail = self._tail, b""
        return self.frame_line(tail) if tail else []

    def frame_line(self, line: bytes) -> list[str]:
        """All valid sentences in one line; counts what was thrown away."""
        stripped = line.strip()
        if not stripped or stripped.startswith(b"#"):
            return []
        out: list[str] = []
        matched = 0
        for match in _SENTENCE.finditer(line):
            matched += 1
            body = line[match.start() + 1:match.start(3) - 1]
            if not checksum_ok(body, match.group(3)):
                self.counters["bad_checksum"] += 1
                continue
            out.append(body.decode("ascii"))
        starts = len(_START.findall(line))
        if starts > matched:  # a sentence began but never reached '*hh'
            self.counters["truncated"] += starts - matched
        if _BINARY.search(stripped):
            self.counters["binary_lines"] += 1
        elif not starts and not matched:
            self.counters["junk_lines"] += 1
        self.counters["sentences"] += len(out)
        return out


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _float(text: str, lo: float = float("-inf"), hi: float = float("inf")) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    if value != value or not lo <= value <= hi:
        return None
    return value


def _sats(text: str) -> int | None:
    value = _int(text)
    return value if value is not None and 0 <= value <= 255 else None


def parse_tod(text: str) -> int | None:
    """'hhmmss[.sss]' to microseconds of the day; None when empty or impossible."""
    if len(text) < 6 or not text[:6].isdigit():
        return None
    hh, mm, ss = int(text[0:2]), int(text[2:4]), int(text[4:6])
    frac = 0
    if len(text) > 6:
        if text[6] != "." or not text[7:].isdigit():
            return None
        digits = (text[7:] + "000000")[:6]
        frac = int(digits) if text[7:] else 0
    if hh > 23 or mm > 59 or ss > 60:
        return None
    return ((hh * 60 + mm) * 60 + ss) * 1_000_000 + frac


def parse_date(ddmmyy: str) -> date | None:
    if len(ddmmyy) != 6 or not ddmmyy.isdigit():
        return None
    dd, mm, yy = int(ddmmyy[0:2]), int(ddmmyy[2:4]), int(ddmmyy[4:6])
    year = 1900 + yy if yy >= 80 else 2000 + yy
    try:
        return date(year, mm, dd)
    except ValueError:
        return None


def parse_coord(value: str, hemi: str, is_lat: bool) -> float | None:
    """'ddmm.mmmm' + N/S (or 'dddmm.mmmm' + E/W) to signed degrees; None when impossible."""
    if not value or hemi not in ("N", "S", "E", "W"):
        return None
    if (hemi in ("N", "S")) != is_lat:
        return None
    dot = value.find(".")
    if dot < 0:
        dot = len(value)
    if dot < 3:
        return None
    deg_text, min_text = value[:dot - 2], value[dot - 2:]
    if not deg_text.isdigit():
        return None
    minutes = _float(min_text, 0.0, 60.0)
    if minutes is None or minutes >= 60.0:
        return None
    degrees = int(deg_text) + minutes / 60.0
    if degrees > (90.0 if is_lat else 180.0):
        return None
    return -degrees if hemi in ("S", "W") else degrees


_MODE_QUALITY = {"A": 1, "D": 2, "P": 3, "R": 4, "F": 5, "E": 6, "M": 7, "S": 8}


def _field(msg, name: str) -> str:
    idx = msg.name_to_idx.get(name)
    if idx is None or idx >= len(msg.data):
        return ""
    return msg.data[idx].strip()


def decode(sentence: str, counters: Counter | None = None) -> Obs | None:
    """One checksummed sentence body (no '$', no '*hh') to an Obs, or None when unused/garbage."""
    counters = counters if counters is not None else Counter()
    address = sentence.split(",", 1)[0]
    if address.startswith("P"):
        counters["proprietary"] += 1
        return None
    if len(address) != 5 or address[2:] not in USED_TYPES:
        counters["ignored"] += 1
        return None
    try:
        msg = pynmea2.parse("$" + sentence)
    except (pynmea2.ParseError, ValueError, AttributeError, TypeError):
        counters["unparseable"] += 1
        return None
    kind, talker = address[2:], address[:2]
    f = lambda name: _field(msg, name)  # noqa: E731
    try:
        if kind == "GGA":
            return _gga(kind, talker, f, counters)
        if kind == "RMC":
            return _rmc(kind, talker, f, counters)
        if kind == "GNS":
            return _gns(kind, talker, f, counters)
        if kind == "GLL":
            status = f("status")
            mode = f("faa_mode")
            valid = status == "A" and mode != "N" if status else None
            return _with_position(Obs(kind, talker, tod_us=parse_tod(f("timestamp")), valid=valid), f, counters)
        if kind == "VTG":
            speed = _float(f("spd_over_grnd_kmph"), 0, 2000)
            speed = speed / 3.6 if speed is not None else None
            if speed is None:
                knots = _float(f("spd_over_grnd_kts"), 0, 1100)
                speed = knots * KNOTS_TO_MPS if knots is not None else None
            valid = False if f("faa_mode") == "N" else None
            return Obs(kind, talker, speed_mps=speed, track_deg=_float(f("true_track"), 0, 360), valid=valid)
        if kind == "GSA":
            mode = _int(f("mode_fix_type"))
            ids = [msg.data[i] for i in range(2, min(14, len(msg.data))) if msg.data[i].strip()]
            return Obs(kind, talker, gsa_mode=mode if mode in (1, 2, 3) else None, gsa_sats=len(ids),
                       hdop=_float(f("hdop"), 0, 99.99))
        if kind == "ZDA":
            day, month, year = _int(f("day")), _int(f("month")), _int(f("year"))
            the_date = None
            if day and month and year:
                try:
                    the_date = date(year, month, day)
                except (ValueError, OverflowError):
                    the_date = None
            if the_date is None and (f("day") or f("year")):
                counters["bad_date"] += 1
            return Obs(kind, talker, tod_us=parse_tod(f("timestamp")), date=the_date)
        if kind == "GST":
            return Obs(kind, talker, tod_us=parse_tod(f("timestamp")))
    except (ValueError, IndexError, TypeError, OverflowError):
        counters["unparseable"] += 1
        return None
    return None


def _with_position(obs: Obs, f, counters: Counter) -> Obs:
    lat = parse_coord(f("lat"), f("lat_dir"), True)
    lon = parse_coord(f("lon"), f("lon_dir"), False)
    if lat is None or lon is None:
        if f("lat") or f("lon"):
            counters["bad_position"] += 1
        return obs
    if lat == 0.0 and lon == 0.0:  # "null island": a receiver's placeholder, never a place
        counters["bad_position"] += 1
        return obs
    return Obs(**{**obs.__dict__, "lat": lat, "lon": lon})


def _gga(kind: str, talker: str, f, counters: Counter) -> Obs:
    quality = _int(f("gps_qual"))
    alt = _float(f("altitude"), -1000, 100_000)
    obs = Obs(kind, talker, tod_us=parse_tod(f("timestamp")),
              valid=(quality > 0) if quality is not None else None, quality=quality,
              sats=_sats(f("num_sats")), hdop=_float(f("horizontal_dil"), 0, 99.99), alt_m=alt)
    return _with_position(obs, f, counters)


def _rmc(kind: str, talker: str, f, counters: Counter) -> Obs:
    status = f("status")
    mode = f("mode_indicator")[:1]
    valid = None
    if status:
        valid = status == "A" and mode != "N"
    text = f("datestamp")
    the_date = parse_date(text)
    if the_date is None and text:
        counters["bad_date"] += 1
    knots = _float(f("spd_over_grnd"), 0, 1100)
    obs = Obs(kind, talker, tod_us=parse_tod(f("timestamp")), date=the_date,
              valid=valid, quality=_MODE_QUALITY.get(mode) if valid else None,
              speed_mps=knots * KNOTS_TO_MPS if knots is not None else None,
              track_deg=_float(f("true_course"), 0, 360))
    return _with_position(obs, f, counters)


def _gns(kind: str, talker: str, f, counters: Counter) -> Obs:
    modes = f("mode_indicator")
    valid = any(c not in "N" for c in modes) if modes else None
    best = next((c for c in modes if c in "RFDAPE"), "")
    obs = Obs(kind, talker, tod_us=parse_tod(f("timestamp")), valid=valid,
              quality=_MODE_QUALITY.get(best) if valid else None, sats=_sats(f("num_sats")),
              hdop=_float(f("hdop"), 0, 99.99), alt_m=_float(f("altitude"), -1000, 100_000))
    return _with_position(obs, f, counters)
