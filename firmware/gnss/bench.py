"""NMEA decoding throughput (sentences/s): framing, checksums, pynmea2 and epoch assembly.

A 1 Hz receiver with every sentence on emits ~20-60 sentences/s; the figure says how much of a
Pi core the decoder takes. Default input is the shipped demo route, so it runs anywhere.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from importlib import resources
from pathlib import Path

from firmware.cli import number
from firmware.gnss.sources import NmeaStream


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--file", type=Path, default=None, help="NMEA capture (default: the demo route)")
    parser.add_argument("--repeat", type=number(1, 10 ** 6), default=5, help="passes over the file")
    parser.add_argument("--chunk", type=number(1, 10 ** 8), default=512, help="bytes per read, as from a serial port")
    parser.add_argument("--min-year", type=number(1980, 2099), default=1990,
                        help="dates before this year are rejected (GPS time starts in 1980; the last kept is 2099)")


def run(args: argparse.Namespace) -> dict:
    if args.file is not None:
        data = Path(args.file).read_bytes()
        name = str(args.file)
    else:
        data = (resources.files("firmware") / "assets" / "demo-route.nmea").read_bytes()
        name = "demo-route.nmea"
    from datetime import date

    counters: Counter = Counter()
    epochs = 0
    start = time.perf_counter()
    for _ in range(max(1, args.repeat)):
        stream = NmeaStream(counters, date(args.min_year, 1, 1), date(2099, 12, 31))
        for i in range(0, len(data), args.chunk):
            epochs += len(stream.feed(data[i:i + args.chunk], i))
        epochs += len(stream.flush())
    elapsed = time.perf_counter() - start
    lookup_us = _position_at_us()
    return {
        "bench": "gps", "file": name, "bytes": len(data) * max(1, args.repeat),
        "sentences": counters["sentences"], "epochs": epochs, "seconds": round(elapsed, 3),
        "sentences_per_s": round(counters["sentences"] / elapsed, 1) if elapsed else None,
        "epochs_per_s": round(epochs / elapsed, 1) if elapsed else None,
        "rejected": {k: v for k, v in counters.items() if k not in ("sentences", "epochs", "fixes")},
        "position_at_us": lookup_us,
    }


def _position_at_us(calls: int = 20_000) -> float:
    """Mean cost of one position_at over a full track (600 fixes), the daemon's per-read call."""
    from firmware.gnss.epoch import Fix
    from firmware.gnss.track import Track, TrackRules

    track = Track(TrackRules())
    for i in range(600):
        track.add(Fix(i * 1_000_000_000, None, 3, 44.0 + i * 1e-5, -121.0, 1100.0, 12.0, 90.0, 0.9, 10, 1,
                      i * 1_000_000))
    start = time.perf_counter()
    for i in range(calls):
        track.position_at((i % 620) * 970_000_000)
    return round((time.perf_counter() - start) / calls * 1e6, 2)
