"""The plain data that flows between stages. No I/O, no behaviour beyond conversion.

Every stage speaks these types, so each can be replaced (a better model, another GNSS source)
without its neighbours noticing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

import numpy as np


@dataclass(frozen=True)
class Frame:
    camera_id: str
    seq: int                 # per camera, starts at 0, +1 per delivered frame
    image: np.ndarray        # BGR uint8, HxWx3 (grayscale IR sources are converted to 3 channels)
    mono_ns: int             # time.monotonic_ns() at capture: the key for GPS interpolation
    utc: datetime            # UTC wall time at capture
    clock_source: str        # which clock vouched for `utc`


@dataclass(frozen=True)
class PlateCandidate:
    """One plate found in one image by the recogniser."""

    text: str                            # raw characters as read (A-Z0-9, stacked chars inline)
    confidence: float                    # 0..1, product-like score of the whole text
    char_confidences: tuple[float, ...]  # one per character of `text`
    box: tuple[int, int, int, int]       # x, y, w, h in image pixels
    state: str | None = None             # issuing state when the recogniser can tell
    detector_confidence: float = 1.0
    state_confidence: float | None = None  # 0..1 with `state`; None when no state was read
    state_frames: tuple[int, ...] = ()   # frame seqs whose view named `state` (the vote's evidence)


@dataclass(frozen=True)
class Position:
    """Where the unit was at a frame's capture time, and how we know."""

    method: str = "none"                 # fix | interpolated | extrapolated | stale | none
    lat: float | None = None
    lon: float | None = None
    alt_m: float | None = None
    speed_mps: float | None = None
    track_deg: float | None = None
    hdop: float | None = None
    sats: int | None = None
    mode: int | None = None              # 1 no fix, 2 2D, 3 3D
    quality: int | None = None           # GGA quality: 0 none, 1 GPS, 2 DGPS, 4 RTK fixed, 5 RTK float ...
    fix_age_s: float | None = None       # capture time minus the time of the fix used
    fix_time: datetime | None = None

    def as_row(self) -> dict:
        return {
            "lat": self.lat, "lon": self.lon, "alt_m": self.alt_m, "speed_mps": self.speed_mps,
            "track_deg": self.track_deg, "hdop": self.hdop, "sats": self.sats, "fix_mode": self.mode,
            "fix_quality": self.quality, "position_method": self.method, "fix_age_s": self.fix_age_s,
        }


@dataclass(frozen=True)
class Hit:
    """A read matched a hotlist entry. Never proof: the officer must verify."""

    list_name: str
    entry_plate: str
    entry_state: str | None
    category: str | None
    priority: int                        # 0 highest .. 100
    match: str                           # exact | equivalent | wildcard | length
    positions: tuple[int, ...] = ()      # positions in the read that differ from the entry
    possible: bool = False               # the read's state contradicts the entry's
    alert: str = "audible"               # audible | visual | silent
    list_version: int | None = None
    list_age_s: float | None = None
    annotations: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["positions"] = list(self.positions)
        return d


@dataclass(frozen=True)
class Read:
    """One vehicle seen over one or more frames: the unit of evidence (a "scan file")."""

    id: str
    unit_id: str
    camera_id: str
    plate: str                           # normalised
    plate_raw: str
    state: str | None
    confidence: float
    char_confidences: tuple[float, ...]
    frames: int
    box: tuple[int, int, int, int]
    captured_at: datetime
    first_seen_at: datetime
    clock_source: str
    frame_seq: int
    capture_mono_ns: int
    position: Position = Position()
    crop_path: str | None = None
    overview_path: str | None = None
    hits: tuple[Hit, ...] = ()
    state_confidence: float | None = None  # 0..1 with `state` (recognition/state.py); None without a state
    state_frames: tuple[int, ...] = ()     # the frames (seq, this camera and run) whose view named `state`
