"""Shared parts of the screen tests: a real daemon (firmware.app.Unit, real models, real SQLite, the
real screen server) fed by a camera the test drives, and Debian's Chromium driven by Playwright.

The camera is the one seam: `CarFeed` is a live source that shows an empty road until the test
drives a car past with a given plate (the demo's renderer), so a test decides when a hit arrives.
Everything downstream (recognition, consensus, matching, storage, alerting, the screen) is real.
"""

from __future__ import annotations

import collections
import threading
import time
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from firmware.auth import hash_credential

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
PINS = {"ofc.ray": "1357", "sgt.sue": "2468", "tech.tim": "9753"}
USERS = [
    {"id": "ofc.ray", "name": "Ray", "roles": ["officer"]},
    {"id": "sgt.sue", "name": "Sue", "roles": ["supervisor"]},
    {"id": "tech.tim", "name": "Tim", "roles": ["technician"]},
    {"id": "ofc.lock", "name": "Lock", "roles": ["officer"]},
]
PINS["ofc.lock"] = "8642"
_HASHES: dict[str, str] = {}


def credential(user: str) -> str:
    """A cheap scrypt hash (ln=10) of the user's PIN, made once per test session."""
    if user not in _HASHES:
        _HASHES[user] = hash_credential(PINS[user], ln=10)
    return _HASHES[user]


def install_users(data_dir: Path, users=USERS, *, at: datetime | None = None) -> None:
    """The agency's roster with PIN credentials, through the store function the signed downlink uses."""
    from firmware.demo import store_demo_roster

    store_demo_roster(data_dir, [{**u, "credential": credential(u["id"])} for u in users], at=at)


def need_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (scripts/bootstrap.sh installs it)")
    pytest.importorskip("playwright.sync_api")


class CarFeed:
    """A live camera for tests: empty road, and on `drive(plate)` a car with that plate passing by."""

    camera_id = "front"
    finite = False

    def __init__(self, seed: int = 11):
        from firmware.demo import FRAMES_PER_CAR

        self.rng = np.random.default_rng(seed)
        self.frames_per_car = FRAMES_PER_CAR
        self._queue: collections.deque = collections.deque()
        self._lock = threading.Lock()
        self._shift = 0
        self.broken = False

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def drive(self, plate: str, style: str = "white", seed: int = 3) -> None:
        from firmware.synthetic.plate import render_plate

        image = render_plate(plate, np.random.default_rng(seed), style=style)
        with self._lock:
            for step in range(self.frames_per_car):
                self._queue.append((image, step))

    def idle(self) -> bool:
        with self._lock:
            return not self._queue

    def read(self) -> np.ndarray:
        from firmware.demo import _background, _car
        from firmware.frames.sources import CameraError

        if self.broken:
            raise CameraError("test camera unplugged")
        self._shift += 1
        frame = _background(self.rng, self._shift)
        with self._lock:
            item = self._queue.popleft() if self._queue else None
        if item is not None:
            plate, step = item
            t = step / (self.frames_per_car - 1)
            _car(frame, plate, 640 + int(40 * t), int(560 + 120 * t), 0.85 + 0.6 * t, (160, 40, 30))
        return frame


def unit_config(data_dir: Path, *, screen: dict | None = None, alerts: dict | None = None, fps: float = 10):
    from firmware.config import UnitConfig
    from firmware.demo import asset

    return UnitConfig.model_validate({
        "unit": {"id": "screen-unit", "data_dir": str(data_dir), "min_free_mb": 1},
        "cameras": [{"id": "front", "kind": "folder", "uri": str(data_dir), "fps": fps, "queue_size": 8,
                     "stall_timeout_s": 3}],
        "gps": {"source": "file", "file": str(asset("demo-route.nmea")), "replay_speed": 1.0},
        "alerts": {"sinks": ["recording"], **(alerts or {})},
        "screen": {"listen": "127.0.0.1:0", **(screen or {})},
        "logging": {"level": "WARNING", "format": "json"},
    })


class Daemon:
    """One running Unit with its supervisor loop (stall checks, unacknowledged hits) in a thread."""

    def __init__(self, data_dir: Path, feed: CarFeed, **config):
        from firmware.alerts.alerter import RecordingSink
        from firmware.app import Seams, Unit

        self.data_dir = data_dir
        self.feed = feed
        self.config = unit_config(data_dir, **config)
        self.sink = RecordingSink()
        self.unit = Unit(self.config, Seams(sources={"front": feed}, alert_sinks=[self.sink], gps_wait_s=5.0))
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> "Daemon":
        self.unit.start()
        self.thread = threading.Thread(target=self.unit.run, args=(self.stop_event,), kwargs={"tick_s": 0.2},
                                       daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return self.unit.screen.address

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread:
            self.thread.join(10)
        self.unit.stop()

    def drive(self, plate: str, timeout: float = 60, **kw) -> dict:
        """A car passes; returns the stored read of that plate once committed."""
        before = len(self.sink.alerts)
        self.feed.drive(plate, **kw)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.rows("SELECT id, plate FROM reads WHERE plate = ? ORDER BY captured_at DESC", plate)
            if rows and self.feed.idle():
                return {"read_id": rows[0][0], "alerts_before": before}
            time.sleep(0.1)
        raise AssertionError(f"no read of {plate} within {timeout}s")

    def rows(self, sql: str, *params) -> list:
        import sqlite3

        conn = sqlite3.connect(f"file:{self.data_dir / 'alpr.db'}?mode=ro", uri=True)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()


def demo_daemon(tmp_path_factory, name: str, feed: CarFeed, **config) -> "Daemon":
    """A started Daemon in a fresh data dir with the roster's users and the demo hotlist: what every
    screen test module runs against (stop it when done)."""
    from firmware.clock import SystemClock
    from firmware.demo import load_demo_hotlist

    data = tmp_path_factory.mktemp(name)
    install_users(data)
    load_demo_hotlist(data, "screen-unit", SystemClock())
    return Daemon(data, feed, **config).start()


def launch_browser(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def login(page, url: str, user: str, pin: str | None = None) -> None:
    page.goto(url + "login")
    page.fill("#user", user)
    page.fill("#pin", PINS[user] if pin is None else pin)
    page.click("#login-submit")


def wait_until(predicate, timeout: float = 30, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not met in time")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


TRAINED = date(2026, 1, 10)


@pytest.fixture(scope="module")
def browser():
    """One headless Debian Chromium per test module (importing it into a module makes it that module's fixture)."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_browser(p)
        yield b
        b.close()
