"""A camera that keeps delivering the same image (a stuck sensor or driver) is a malfunction.

The worker judges live cameras only; time comes from a ManualClock the source advances by one frame
period per read, so "10 s of identical frames" is exact and the test never sleeps.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time

import numpy as np
import pytest

from firmware.clock import ManualClock
from firmware.frames.sources import EndOfStream
from firmware.frames.worker import CameraWorker, frame_fingerprint
from firmware.malfunctions import malfunctions

PERIOD_S = 0.1


def road(rng: np.random.Generator, shape=(72, 128, 3)) -> np.ndarray:
    """A parked car's view: the same scene with a live sensor's noise (sigma 1 grey level)."""
    base = np.linspace(60, 200, shape[1], dtype=np.float32)[None, :, None].repeat(shape[0], 0).repeat(3, 2)
    return np.clip(base + rng.normal(0, 1.0, shape), 0, 255).astype(np.uint8)


class ScriptedCamera:
    """A live camera replaying a list of frames; each read moves the clock on by one frame period.
    Records the frame index at which each event arrived."""

    camera_id = "front"

    def __init__(self, frames: list[np.ndarray], clock: ManualClock, finite: bool = False):
        self.frames, self.clock, self.finite = frames, clock, finite
        self.index = 0

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def read(self) -> np.ndarray:
        if self.index >= len(self.frames):
            raise EndOfStream()
        self.clock.advance(PERIOD_S)
        self.index += 1
        return self.frames[self.index - 1]


def run(frames: list[np.ndarray], *, frozen_after_s: float, finite: bool = False) -> tuple[list, CameraWorker]:
    clock = ManualClock()
    source = ScriptedCamera(frames, clock, finite=finite)
    events: list[tuple[str, dict, int, dict]] = []
    worker: CameraWorker | None = None

    def on_event(kind, src, detail):
        events.append((kind, detail, source.index, worker.status()))

    worker = CameraWorker(source, clock, fps=1000, loop=False, queue_size=len(frames) + 1, stall_timeout_s=60,
                          backoff_max_s=1, on_event=on_event, pace=False, frozen_after_s=frozen_after_s)
    worker.start()
    deadline = time.monotonic() + 60
    while not worker.ended and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.stop()
    assert worker.ended and worker.frames == len(frames)   # every frame still went on to recognition
    return events, worker


def test_identical_frames_for_the_limit_are_one_malfunction_cleared_by_the_next_different_frame():
    rng = np.random.default_rng(1)
    stuck = road(rng)
    frames = [road(rng) for _ in range(20)] + [stuck] * 150 + [road(rng) for _ in range(10)]
    events, worker = run(frames, frozen_after_s=10.0)
    kinds = [(kind, detail.get("reason")) for kind, detail, _, _ in events]
    assert kinds == [("malfunction", "frozen"), ("back_in_service", "frozen_cleared")]
    _, detail, at_frame, status = events[0]
    # the stuck image is frame 21; 10 s at 10 frames/s later it is frame 121 (the first repeat is frame 22)
    assert at_frame == 21 + 100 and detail["identical_s"] == pytest.approx(10.0)
    assert status["frozen"] is True and status["stalled"] is False
    assert events[1][2] == 171                      # the first different frame
    assert worker.status()["frozen"] is False


def test_a_stuck_image_shorter_than_the_limit_is_not_a_malfunction():
    rng = np.random.default_rng(2)
    stuck = road(rng)
    frames = [road(rng) for _ in range(5)] + [stuck] * 100 + [road(rng) for _ in range(5)]   # 9.9 s identical
    events, _ = run(frames, frozen_after_s=10.0)
    assert events == []


def test_a_parked_car_with_sensor_noise_is_never_frozen():
    rng = np.random.default_rng(3)
    events, _ = run([road(rng) for _ in range(400)], frozen_after_s=1.0)
    assert events == []


@pytest.mark.parametrize("finite, frozen_after_s", [(True, 1.0), (False, 0.0)])
def test_replayed_footage_and_a_zero_limit_are_not_judged(finite, frozen_after_s):
    still = road(np.random.default_rng(4))
    events, worker = run([still] * 200, frozen_after_s=frozen_after_s, finite=finite)
    assert events == [] and worker.status()["frozen"] is False


def test_fingerprint_tells_identical_from_changed_frames():
    image = road(np.random.default_rng(5))
    assert frame_fingerprint(image) == frame_fingerprint(image.copy())
    changed = image.copy()
    changed[14, 21, 1] ^= 1                          # one sampled pixel, one grey level
    assert frame_fingerprint(changed) != frame_fingerprint(image)
    flat = np.zeros((70, 140, 3), np.uint8)
    assert frame_fingerprint(flat) != frame_fingerprint(flat.reshape(140, 70, 3))   # same bytes, other shape


def test_the_screen_names_a_frozen_camera_as_critical():
    found = malfunctions({"cameras": [{"camera": "rear", "frozen": True, "stalled": False}]})
    assert [(m["source"], m["severity"]) for m in found] == [("camera:rear", "critical")]
    assert "Camera rear frozen" in found[0]["message"]


def test_the_unit_records_a_frozen_camera_and_reports_it_in_health(tmp_path):
    """The whole daemon: config -> worker -> events table and health, with a live camera that sticks."""
    from firmware.alerts.alerter import RecordingSink
    from firmware.app import Seams, Unit
    from firmware.config import UnitConfig

    rng = np.random.default_rng(6)
    stuck = road(rng, (360, 640, 3))
    release = threading.Event()

    class StickingCamera:
        camera_id, finite = "front", False

        def open(self):
            pass

        def close(self):
            pass

        def read(self):
            time.sleep(0.05)
            return road(rng, (360, 640, 3)) if release.is_set() else stuck

    config = UnitConfig.model_validate({
        "unit": {"id": "frozen-unit", "data_dir": str(tmp_path), "min_free_mb": 1},
        "cameras": [{"id": "front", "kind": "folder", "uri": str(tmp_path), "fps": 20, "frozen_after_s": 1.0}],
        "alerts": {"sinks": ["recording"]},
        "logging": {"level": "WARNING", "format": "json"},
    })
    unit = Unit(config, Seams(sources={"front": StickingCamera()}, alert_sinks=[RecordingSink()], gps_wait_s=1.0))
    unit.start()
    try:
        def frozen_rows():
            conn = sqlite3.connect(f"file:{tmp_path / 'alpr.db'}?mode=ro", uri=True)
            try:
                return conn.execute("SELECT kind, detail FROM events WHERE source = 'camera:front' ORDER BY rowid").fetchall()
            finally:
                conn.close()

        deadline = time.monotonic() + 60
        while not any(kind == "malfunction" for kind, _ in frozen_rows()) and time.monotonic() < deadline:
            time.sleep(0.1)
        rows = frozen_rows()
        assert rows and rows[0][0] == "malfunction" and json.loads(rows[0][1])["reason"] == "frozen"
        health = unit.health()
        assert health["cameras"][0]["frozen"] is True
        assert any("frozen" in m["message"] for m in malfunctions(health))
        release.set()
        while len(frozen_rows()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [kind for kind, _ in frozen_rows()] == ["malfunction", "back_in_service"]
        assert unit.health()["cameras"][0]["frozen"] is False
    finally:
        unit.stop()


def test_the_camera_bench_prints_both_methods_for_both_sizes_and_refuses_bad_repeats():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "firmware.cli", "bench", "camera", "--repeats", "10"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    for method in ("fingerprint_us_median", "peer_array_equal_us_median"):
        assert set(figures[method]) == {"720p", "1080p"} and all(v > 0 for v in figures[method].values())
    bad = subprocess.run([sys.executable, "-m", "firmware.cli", "bench", "camera", "--repeats", "5"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "10 to 100000" in bad.stderr and "Traceback" not in bad.stderr
