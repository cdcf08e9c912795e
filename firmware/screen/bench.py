"""Screen alert latency (read committed -> sink called, -> shown in Chromium) and the screen's cost in frames/s.

Latency: the real daemon (Unit, writer, hotlists, alerter, screen server) records `--hits` hit reads one at
a time through the real ReadRecorder; the commit moment is taken where the recorder reports it
(`on_committed`), the sink moment by an extra alert output, and the shown moment inside the page
(`performance.timeOrigin + performance.now()` in the animation frame after the alert is drawn; same
machine clock). Frames/s: the daemon on the looping demo clip for `--seconds`, without a browser and then
with a logged-in browser showing the live view, reads and hits.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from firmware.cli import number

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def add_arguments(parser) -> None:
    parser.add_argument("--hits", type=number(1, 10 ** 5), default=100, help="hit reads to time (default 100)")
    parser.add_argument("--seconds", type=number(1.0, 3600.0, float), default=20.0,
                        help="seconds per frames/s run (default 20)")
    parser.add_argument("--chromium", default=CHROMIUM, help="Chromium binary for Playwright")
    parser.add_argument("--no-browser", action="store_true", help="skip what needs a browser")


def _stats(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {"n": len(values), "median_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
            "max_ms": round(ordered[-1], 2)}


class _TimingSink:
    name = "bench-timing"

    def __init__(self):
        self.called: dict[str, float] = {}

    def alert(self, alert) -> None:
        self.called[alert.read_id] = time.time() * 1000

    def close(self) -> None:
        pass


def _unit(data_dir: Path, cameras: list[dict], extra_sinks=()):
    from firmware.app import Seams, Unit
    from firmware.clock import SystemClock
    from firmware.config import UnitConfig
    from firmware.demo import DEMO_USERS, load_demo_hotlist, provision_demo_users

    config = UnitConfig.model_validate({
        "unit": {"id": "bench-unit", "data_dir": str(data_dir), "min_free_mb": 1},
        "cameras": cameras, "gps": {"source": "none"}, "alerts": {"sinks": []},
        "screen": {"listen": "127.0.0.1:0"}, "logging": {"level": "ERROR", "format": "json"}})
    if not (data_dir / "alpr.db").exists():
        load_demo_hotlist(data_dir, "bench-unit", SystemClock())
        provision_demo_users(data_dir)
    return Unit(config, Seams(alert_sinks=list(extra_sinks))), DEMO_USERS[0]


def _track(plate_image, seq: int):
    import numpy as np

    from firmware.consensus import Sighting, Track
    from firmware.demo import FRAME_SIZE, _background, _car
    from firmware.records import Frame, PlateCandidate

    image = _background(np.random.default_rng(seq), seq)
    _car(image, plate_image, 640, 620, 1.2, (160, 40, 30))
    mono = time.monotonic_ns()
    frame = Frame("front", seq, image, mono, datetime.now(timezone.utc), "system")
    candidate = PlateCandidate("6TRK915", 0.99, (0.99,) * 7, (550, 480, 180, 90))
    sighting = Sighting(seq, mono, candidate, payload=frame)
    assert image.shape[:2] == FRAME_SIZE
    return Track(seq, [sighting], sighting)


def _browser(playwright, executable: str):
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)


def _login(page, url: str, user: dict) -> None:
    page.goto(url + "login")
    page.fill("#user", user["id"])
    page.fill("#pin", user["pin"])
    page.click("#login-submit")
    page.wait_for_function("window.__alpr && window.__alpr.connected === true")


def latency(data_dir: Path, hits: int, browser_path: str | None) -> dict:
    import numpy as np

    from firmware.synthetic.plate import render_plate

    timing = _TimingSink()
    unit, user = _unit(data_dir, [], [timing])
    unit.start()
    committed: list[float] = []
    notify = unit.recorder.on_committed

    def on_committed() -> None:
        committed.append(time.time() * 1000)
        notify()

    unit.recorder.on_committed = on_committed
    plate = render_plate("6TRK915", np.random.default_rng(1), style="white")
    to_sink, to_screen, reads = [], [], []
    pw = page = browser = None
    try:
        if browser_path:
            from playwright.sync_api import sync_playwright

            pw = sync_playwright().start()
            browser = _browser(pw, browser_path)
            page = browser.new_page(viewport={"width": 800, "height": 480})
            _login(page, unit.screen.address, user)
        for i in range(hits):
            read = unit.recorder.record_track(_track(plate, i), "front")
            reads.append(read.id)
            to_sink.append(timing.called[read.id] - committed[-1])
            if page is not None:
                page.wait_for_function(f"window.__alpr && window.__alpr.shown.length >= {i + 1}", timeout=10_000)
                shown = page.evaluate(f"window.__alpr.shown[{i}]")
                assert shown["read_id"] == read.id, "the page showed another alert"
                to_screen.append(shown["shown_at_ms"] - committed[-1])
                page.evaluate("document.getElementById('later').click()")   # clear the screen for the next one
    finally:
        if browser is not None:
            browser.close()
        if pw is not None:
            pw.stop()
        unit.stop()
    return {"hits": hits, "commit_to_sink": _stats(to_sink),
            "commit_to_screen": _stats(to_screen) if browser_path else "skipped (no browser)"}


def frames_per_second(data_dir: Path, clip: Path, seconds: float, browser_path: str | None) -> dict:
    unit, user = _unit(data_dir, [{"id": "front", "kind": "folder", "uri": str(clip), "fps": 120, "loop": True,
                                   "queue_size": 4}])
    unit.start()
    pw = browser = None
    try:
        if browser_path:
            from playwright.sync_api import sync_playwright

            pw = sync_playwright().start()
            browser = _browser(pw, browser_path)
            page = browser.new_page(viewport={"width": 800, "height": 480})
            _login(page, unit.screen.address, user)
        time.sleep(2.0)                                   # past start-up: the warm-up frame, the first reads
        frames0, t0 = unit.recorder.stats.frames, time.monotonic()
        stop = threading.Event()
        stop.wait(seconds)
        frames, elapsed = unit.recorder.stats.frames - frames0, time.monotonic() - t0
        hub = unit.screen.hub.status()
    finally:
        if browser is not None:
            browser.close()
        if pw is not None:
            pw.stop()
        unit.stop()
    return {"frames": frames, "seconds": round(elapsed, 2), "fps": round(frames / elapsed, 2), "screen": hub}


def run(args) -> dict:
    import os
    import platform

    from firmware.demo import render_clip

    browser_path = None if args.no_browser or not Path(args.chromium).exists() else args.chromium
    if browser_path:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            browser_path = None
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        clip = tmp_dir / "clip"
        render_clip(clip)
        result = {"bench": "alert", "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.node()}",
                  "latency": latency(tmp_dir / "latency", args.hits, browser_path),
                  "fps_without_browser": frames_per_second(tmp_dir / "fps", clip, args.seconds, None)}
        if browser_path:
            result["fps_with_browser"] = frames_per_second(tmp_dir / "fps", clip, args.seconds, browser_path)
            result["fps_cost_pct"] = round(100 * (1 - result["fps_with_browser"]["fps"]
                                                  / result["fps_without_browser"]["fps"]), 1)
        result["browser"] = browser_path or "none"
    return result
