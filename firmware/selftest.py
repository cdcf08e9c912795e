"""`alpr-unit selftest`: what a technician runs after installing or replacing a unit.

Each check answers "does this part work right now?" with a reason a technician can act on.
Any failed check makes the exit code non-zero.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from firmware.cli import EXIT_FAILED, EXIT_OK, add_common, load_unit_config, number


@dataclass
class Check:
    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict:
        return {"check": self.name, "ok": self.ok, "detail": self.detail}


def register(sub) -> None:
    parser = sub.add_parser("selftest", help="check cameras, model, GPS, storage, disk and clock")
    add_common(parser)
    parser.add_argument("--gps-timeout", type=number(0, 3600, float), default=5.0, help="seconds to wait for a GPS fix")
    parser.set_defaults(func=_selftest)


def check_cameras(config) -> list[Check]:
    from firmware.frames.sources import CameraError, EndOfStream, build_source

    checks = []
    for camera in config.cameras:
        source = build_source(camera)
        started = time.monotonic()
        try:
            source.open()
            image = source.read()
            checks.append(Check(f"camera:{camera.id}", True,
                                f"{image.shape[1]}x{image.shape[0]} frame in {time.monotonic() - started:.2f}s"))
        except (CameraError, EndOfStream) as exc:
            checks.append(Check(f"camera:{camera.id}", False, f"no frame from {camera.kind} '{camera.uri}': {exc}"
                                " - check the cable/connector, the device path and `libcamera-hello --list-cameras`"))
        finally:
            source.close()
    if not config.cameras:
        checks.append(Check("cameras", False, "no camera configured ([[cameras]] in the config)"))
    return checks


def test_image(text: str = "SELF42T") -> np.ndarray:
    """A built-in scene: one rendered plate on a plain background."""
    import cv2

    from firmware.synthetic.plate import render_plate

    plate = render_plate(text, np.random.default_rng(42), style="white")
    plate = cv2.resize(plate, (240, int(240 * plate.shape[0] / plate.shape[1])))
    scene = np.full((720, 1280, 3), 110, np.uint8)
    scene[400:400 + plate.shape[0], 520:520 + plate.shape[1]] = plate
    return scene


def check_model(config) -> Check:
    from firmware.recognition.pipeline import Recognizer

    text = "SELF42T"
    try:
        recognizer = Recognizer.from_config(config.recognition)
        started = time.perf_counter()
        plates = recognizer.recognize(test_image(text))
        ms = (time.perf_counter() - started) * 1000
    except Exception as exc:  # any failure here means "the model cannot run": say which and why
        return Check("model", False, f"models failed to load or run: {exc} - reinstall the firmware package")
    texts = [p.text for p in plates]
    if text in texts:
        return Check("model", True, f"read the built-in test plate in {ms:.0f} ms")
    return Check("model", False, f"built-in test plate misread as {texts or 'nothing'} - models may be corrupt")


def check_gps(config, timeout: float) -> Check:
    from firmware.clock import SystemClock
    from firmware.gnss.service import GnssService

    if config.gps.source == "none":
        return Check("gps", False, "no GNSS receiver configured (gps.source = 'none')")
    service = GnssService(config.gps, SystemClock())
    service.start()
    try:
        got_fix = service.wait_for_fix(timeout)
        status = service.status()
    finally:
        service.stop()
    if got_fix:
        return Check("gps", True, f"fix mode {status.get('mode')} sats {status.get('sats')} "
                                  f"age {status.get('fix_age_s')}s")
    return Check("gps", False, f"no fix within {timeout:.0f}s from {config.gps.source} "
                               f"{config.gps.port if config.gps.source == 'serial' else config.gps.file}: "
                               f"{json.dumps(status, default=str)} - check antenna, cable and port")


def check_storage(config) -> list[Check]:
    from firmware.storage.db import StorageError, open_database
    from firmware.unit_data import UnitDataError, bind_unit, has_unit_data

    data_dir = config.unit.data_dir
    checks = []
    try:
        if not has_unit_data(data_dir):
            raise UnitDataError(f"no unit data in {data_dir} (the daemon or `alpr-unit provision` creates it)")
        conn = open_database(data_dir)
        bind_unit(conn, config.unit.id)
        probe = f"selftest_{uuid.uuid4().hex[:8]}"
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(f"CREATE TABLE {probe} (x)")
        conn.execute("ROLLBACK")
        integrity = conn.execute("PRAGMA quick_check").fetchone()[0]
        conn.close()
        checks.append(Check("database", integrity == "ok", f"writable, quick_check={integrity}"))
    except (StorageError, OSError, Exception) as exc:
        checks.append(Check("database", False, f"{data_dir}: {exc} - check the SD card/SSD and permissions"))
    try:
        free_mb = shutil.disk_usage(data_dir).free / 2**20
        checks.append(Check("disk", free_mb >= config.unit.min_free_mb,
                            f"{free_mb:.0f} MB free (minimum {config.unit.min_free_mb} MB)"))
    except OSError as exc:
        checks.append(Check("disk", False, f"{data_dir}: {exc}"))
    return checks


def check_alert_outputs(config, sinks=None) -> list[Check]:
    """Every configured alert output opens and says it works: a missing buzzer fails selftest."""
    import tempfile

    from firmware.alerts.alerter import build_sink

    checks = []
    with tempfile.TemporaryDirectory(prefix="alpr-selftest-") as scratch:
        for name in config.alerts.sinks:
            sink = sinks[name] if sinks and name in sinks else build_sink(name, config.alerts, scratch)
            try:
                problem = sink.check() if hasattr(sink, "check") else None
            finally:
                sink.close()
            checks.append(Check(f"alert:{name}", problem is None, problem or "ready"))
    return checks


def check_clock(now: datetime | None = None) -> Check:
    now = now or datetime.now(timezone.utc)
    if now.year < 2024:
        return Check("clock", False, f"system clock says {now:%Y-%m-%d}: not set - check chrony and the GPS time source")
    return Check("clock", True, f"{now:%Y-%m-%dT%H:%M:%SZ}")


def _selftest(args) -> int:
    config = load_unit_config(args)
    checks = [*check_cameras(config), check_model(config), check_gps(config, args.gps_timeout),
              *check_storage(config), *check_alert_outputs(config), check_clock()]
    for check in checks:
        if args.json:
            print(json.dumps(check.as_dict()))
        else:
            print(f"{'PASS' if check.ok else 'FAIL'}  {check.name:<16} {check.detail}")
    failed = [c.name for c in checks if not c.ok]
    if args.json:
        print(json.dumps({"ok": not failed, "failed": failed}))
    return EXIT_FAILED if failed else EXIT_OK
