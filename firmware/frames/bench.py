"""Cost per frame of the frozen-camera check (frames/worker.frame_fingerprint), against comparing whole frames.

The camera thread runs the check on every live frame, so it must cost little next to a frame's
~20-30 ms of recognition. Peer, in the same run: what a simpler check would cost, `np.array_equal` of
the whole frame with the previous one (which also keeps a second frame in memory).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from firmware.cli import number
from firmware.frames.worker import frame_fingerprint

SIZES = {"720p": (720, 1280, 3), "1080p": (1080, 1920, 3)}


def add_arguments(parser) -> None:
    parser.add_argument("--repeats", type=number(10, 100_000), default=300, metavar="10-100000",
                        help="calls timed per size and method")


def _median_us(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return round(statistics.median(times) * 1e6, 1)


def run(args) -> dict:
    rng = np.random.default_rng(0)
    out: dict = {"repeats": args.repeats, "fingerprint_us_median": {}, "peer_array_equal_us_median": {}}
    for name, shape in SIZES.items():
        frame = rng.integers(0, 256, shape, dtype=np.uint8)
        previous = frame.copy()   # identical: the comparison must look at every byte (its worst case)
        out["fingerprint_us_median"][name] = _median_us(lambda: frame_fingerprint(frame), args.repeats)
        out["peer_array_equal_us_median"][name] = _median_us(lambda: np.array_equal(frame, previous), args.repeats)
    return out
