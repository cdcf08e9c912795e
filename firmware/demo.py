"""`alpr-unit demo`: the real daemon on bundled sample input.

The clip is rendered here (deterministically) rather than shipped: cars approaching the patrol car
with US-style plates, a GPS route replayed from a bundled NMEA file, and a demo hotlist that holds
one of the clip's plates exactly and one with an OCR-equivalent character, so the hit shows how it
matched. Nothing here is faked downstream of the camera: the TFLite models really read the frames.
"""

from __future__ import annotations

import shutil
import threading
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from firmware.synthetic.plate import render_plate

DEMO_PLATES = ("7ABC123", "KLM4821", "6TRK915", "BJR2204", "HPX7730", "4WDE562")
DEMO_STYLES = ("white", "white_blue", "yellow", "white_red", "white", "dark")
FRAME_SIZE = (720, 1280)
FRAMES_PER_CAR = 14
GAP_FRAMES = 6


def asset(name: str) -> Path:
    return Path(str(resources.files("firmware") / "assets" / name))


def _background(rng: np.random.Generator, shift: int) -> np.ndarray:
    h, w = FRAME_SIZE
    img = np.zeros((h, w, 3), np.uint8)
    horizon = int(h * 0.42)
    sky = np.linspace(235, 170, horizon)[:, None]
    img[:horizon] = np.stack([sky + 10, sky, sky - 25], axis=-1).astype(np.uint8)
    road = np.linspace(95, 70, h - horizon)[:, None]
    img[horizon:] = np.repeat(road, 3, axis=1)[:, None, :].astype(np.uint8)
    for x in range(-200, w + 200, 160):   # roadside poles drifting past
        xx = (x + shift * 9) % (w + 200) - 100
        cv2.rectangle(img, (xx, horizon - 140), (xx + 8, horizon + 20), (60, 60, 70), -1)
    for i in range(8):                    # lane markings
        y = horizon + int(((i * 40 + shift * 12) % 320) * (h - horizon) / 320)
        cv2.line(img, (w // 2 - 4, y), (w // 2 + 4, min(h - 1, y + 18)), (220, 220, 220), 3)
    noise = rng.normal(0, 3, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def _car(img: np.ndarray, plate: np.ndarray, cx: int, base_y: int, scale: float, colour) -> None:
    w, h = int(420 * scale), int(260 * scale)
    x0, y0 = cx - w // 2, base_y - h
    cv2.rectangle(img, (x0, y0 + h // 3), (x0 + w, base_y), colour, -1)                  # body
    cv2.rectangle(img, (x0 + w // 7, y0), (x0 + w - w // 7, y0 + h // 3), colour, -1)    # cabin
    cv2.rectangle(img, (x0 + w // 5, y0 + h // 18), (x0 + w - w // 5, y0 + h // 3 - 4), (70, 55, 45), -1)
    for wx in (x0 + w // 12, x0 + w - w // 12 - w // 6):
        cv2.rectangle(img, (wx, base_y - 4), (wx + w // 6, base_y + h // 10), (25, 25, 25), -1)
    for lx in (x0 + w // 20, x0 + w - w // 20 - w // 7):                                 # tail lights
        cv2.rectangle(img, (lx, y0 + h // 2), (lx + w // 7, y0 + h // 2 + h // 10), (40, 40, 200), -1)
    pw = int(150 * scale)
    ph = int(pw * plate.shape[0] / plate.shape[1])
    px, py = cx - pw // 2, base_y - int(h * 0.32)
    img[py:py + ph, px:px + pw] = cv2.resize(plate, (pw, ph), interpolation=cv2.INTER_AREA)


def render_clip(folder: Path, seed: int = 7, lead_in_frames: int = 0) -> list[str]:
    """Write the demo clip as numbered JPEGs; returns the plates it shows, in order.
    `lead_in_frames` of empty road come first (a unit that has just booted, no car yet)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    colours = [(160, 40, 30), (40, 40, 40), (200, 200, 205), (30, 90, 150), (60, 120, 60), (150, 150, 30)]
    for frame_no in range(lead_in_frames):
        cv2.imwrite(str(folder / f"frame_{frame_no:05d}.jpg"), _background(rng, frame_no),
                    [cv2.IMWRITE_JPEG_QUALITY, 90])
    frame_no = lead_in_frames
    for index, (text, style) in enumerate(zip(DEMO_PLATES, DEMO_STYLES)):
        plate = render_plate(text, np.random.default_rng(seed + index), style=style)
        lane_x = 640 + (-160 if index % 2 else 150)
        for step in range(FRAMES_PER_CAR + GAP_FRAMES):
            img = _background(rng, frame_no)
            if step < FRAMES_PER_CAR:
                t = step / (FRAMES_PER_CAR - 1)
                _car(img, plate, lane_x + int(40 * t * (1 if index % 2 else -1)), int(560 + 120 * t),
                     0.85 + 0.6 * t, colours[index % len(colours)])
            cv2.imwrite(str(folder / f"frame_{frame_no:05d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
            frame_no += 1
    return list(DEMO_PLATES)


def demo_config(data_dir: Path, clip_dir: Path, fps: float, screen: str | None = None):
    from firmware.config import UnitConfig, validate_override

    return validate_override(UnitConfig, {**({"screen": {"listen": screen}} if screen else {}),
        "unit": {"id": "demo-unit", "data_dir": str(data_dir), "min_free_mb": 16},
        "cameras": [{"id": "front", "kind": "folder", "uri": str(clip_dir), "fps": fps, "queue_size": 64}],
        "gps": {"source": "file", "file": str(asset("demo-route.nmea")), "replay_speed": 1.0},
        "alerts": {"sinks": ["log", "recording"]},
        "logging": {"level": "WARNING", "format": "text"},
    }, "demo options")


def load_demo_hotlist(data_dir: Path, unit_id: str, clock) -> dict:
    from firmware.hotlist.store import import_hotlist
    from firmware.storage.db import open_database, transaction

    conn = open_database(data_dir)
    try:
        report = transaction(conn, lambda c: import_hotlist(
            c, asset("demo-hotlist.csv"), name="demo-stolen", fmt="csv", mode="replace", list_source="agency",
            category="stolen vehicle", priority=10, alert="audible", at=clock.utc(), unit_id=unit_id,
            user="demo"))
    finally:
        conn.close()
    return report.as_dict()


def run_demo(data_dir: Path, seconds: float | None, fps: float, out=print, screen: str | None = None,
             stop: threading.Event | None = None) -> dict:
    """Render the clip, load the demo hotlist, run the daemon until the clip ends (with `screen`: until
    `stop`, the screen up for a browser); return a summary."""
    from firmware.app import Seams, Unit
    from firmware.clock import SystemClock, iso_utc
    from firmware.hotlist.match import describe_hit
    from firmware.storage.db import open_database
    from firmware.storage.outbox import counts

    clip_dir = data_dir / "demo-clip"
    config = demo_config(data_dir, clip_dir, fps, screen)   # bad --fps/--screen: refused before anything changes
    if clip_dir.exists():
        shutil.rmtree(clip_dir)
    plates = render_clip(clip_dir, lead_in_frames=int(15 * fps) if screen else 0)   # time to log in first
    clock = SystemClock()
    hotlist = load_demo_hotlist(data_dir, config.unit.id, clock)
    if screen:
        provision_demo_users(data_dir)
    out(f"demo: {len(list(clip_dir.iterdir()))} frames of {len(plates)} vehicles; hotlist '{hotlist['list_name']}' "
        f"version {hotlist['version']}: {hotlist['entries']} entries (sha256 {hotlist['sha256'][:12]}...)")

    def show(read) -> None:
        pos = read.position
        where = f"{pos.lat:.5f},{pos.lon:.5f} ({pos.method}, fix age {pos.fix_age_s:.2f}s)" if pos.lat is not None \
            else "no position"
        state = f"{read.state} {read.state_confidence:.2f}" if read.state and read.state_confidence is not None \
            else (read.state or "?")
        out(f"read  {read.plate:<9} state {state:<7} conf {read.confidence:.2f} frames {read.frames:>2}  "
            f"{iso_utc(read.captured_at)}  {where}")
        for hit in read.hits:
            out(f"  HIT {hit.list_name}: entry {hit.entry_plate} ({hit.category}), matched: {describe_hit(hit, read.plate)}; "
                f"list age {hit.list_age_s or 0:.0f}s - VERIFY plate and state before acting")

    unit = Unit(config, Seams(clock=clock, on_read=show, gps_wait_s=5.0))
    stop = stop or threading.Event()
    unit.start()
    try:
        if screen and unit.screen is None:
            out(f"screen: could not listen on {screen} (in use?); the demo runs without it")
        if unit.screen is not None:
            out(f"screen: open {unit.screen.address} in a browser (Ctrl-C ends the demo); logins: "
                + ", ".join(f"{u['id']} PIN {u['pin']} ({u['roles'][0]})" for u in DEMO_USERS))
        unit.run(stop, max_seconds=seconds, until_sources_end=unit.screen is None)
    finally:
        unit.stop()
    conn = open_database(data_dir)
    try:
        total = conn.execute("SELECT count(*) FROM reads").fetchone()[0]
        with_gps = conn.execute("SELECT count(*) FROM reads WHERE lat IS NOT NULL").fetchone()[0]
        hits = conn.execute("SELECT count(*) FROM hits").fetchone()[0]
        queued = counts(conn)
    finally:
        conn.close()
    stats = unit.recorder.stats.as_dict()
    summary = {"frames": stats["frames"], "reads_this_run": stats["reads"], "hits_this_run": stats["hits"],
               "reads_stored": total, "reads_with_position": with_gps, "hits_stored": hits,
               "outbox_queued": queued, "data_dir": str(data_dir)}
    return summary


# --- the screen (`alpr-unit demo --screen`) ---------------------------------------------------------
DEMO_USERS = ({"id": "demo.officer", "name": "Demo Officer", "roles": ["officer"], "pin": "1234"},
              {"id": "demo.sergeant", "name": "Demo Sergeant", "roles": ["supervisor"], "pin": "5678"})


def provision_demo_users(data_dir: Path) -> dict:
    """The demo's officer and sergeant, their PINs hashed as the agency does (firmware.auth)."""
    from firmware.auth import hash_credential

    return store_demo_roster(data_dir, [{"id": u["id"], "name": u["name"], "roles": u["roles"],
                                         "credential": hash_credential(u["pin"])} for u in DEMO_USERS])


def store_demo_roster(data_dir: Path, users: list[dict], at=None) -> dict:
    """Install a roster (RosterUser dicts with credential hashes; trained today unless they say) through
    the store the signed downlink uses (firmware.roster.store_roster)."""
    from datetime import datetime, timezone

    from firmware.roster import store_roster
    from firmware.storage.db import open_database, transaction
    from firmware.sync.downlink import Roster

    at = at or datetime.now(timezone.utc)
    roster = Roster.model_validate({"users": [{"trained_on": at.date().isoformat(), **u} for u in users]})
    conn = open_database(data_dir)
    try:
        seq = 1 + (conn.execute("SELECT coalesce(max(roster_seq), 0) FROM roster").fetchone()[0])
        return transaction(conn, lambda c: store_roster(c, roster, seq=seq, at=at))
    finally:
        conn.close()
