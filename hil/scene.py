"""A scripted road scene rendered to numbered JPEGs for the unit's folder camera (or a bench monitor).

Each vehicle enters at a given second, in a lane, closing at a given speed (which sets how long it is
in view), with its plate drawn by `firmware.synthetic.plate.render_plate` and the demo's road and car
drawings, so the unit's TFLite models read what they would read in the demo. Conditions change the
camera's look per vehicle or for the whole scene: night (IR: dark, monochrome, the retro-reflective
plate bright), rain (streaks and softness), glare (a low sun or headlight bloom beside the plate).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from firmware.demo import FRAME_SIZE, _background, _car   # the demo's road and car drawings, shared
from firmware.synthetic.plate import render_plate

LANE_X = {"left": 480, "centre": 640, "right": 790}
COLOURS = [(160, 40, 30), (40, 40, 40), (200, 200, 205), (30, 90, 150), (60, 120, 60), (150, 150, 30)]
VIEW_M = 20.0   # metres of approach the camera sees a plate over
BACKGROUNDS = 12  # phases of the drifting road (poles, lane marks) before it repeats


@dataclass(frozen=True)
class Vehicle:
    plate: str
    enter_s: float
    leave_s: float
    lane: str = "right"
    style: str = "white"
    conditions: tuple[str, ...] = ()


def in_view_s(closing_kmh: float) -> float:
    """Seconds a plate stays in view at a closing speed: VIEW_M of approach."""
    return VIEW_M / max(closing_kmh / 3.6, 0.5)


def _night(img: np.ndarray) -> np.ndarray:
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32) * 0.35 + 8
    return np.repeat(np.clip(g, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def _rain(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    streaks = np.zeros((h, w), np.uint8)
    for _ in range(350):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        cv2.line(streaks, (x, y), (x + 6, y + 24), 255, 1)
    out = cv2.GaussianBlur(img, (0, 0), 0.9).astype(np.float32)
    out += streaks[..., None].astype(np.float32) * 0.25
    return np.clip(out, 0, 255).astype(np.uint8)


def _glare(img: np.ndarray, cx: int, cy: int) -> np.ndarray:
    h, w = img.shape[:2]
    mask = np.zeros((h, w), np.float32)
    cv2.circle(mask, (cx, cy), 90, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 45)
    return np.clip(img.astype(np.float32) + mask[..., None] * 150, 0, 255).astype(np.uint8)


def render(folder: Path, vehicles: list[Vehicle], *, fps: float, duration_s: float, seed: int = 11,
           conditions: tuple[str, ...] = (), freeze: tuple[float, float] | None = None) -> int:
    """Write `duration_s * fps` frames to `folder` (replacing it); returns the number of frames.

    `freeze` = (from_s, seconds): every frame in that window repeats the one at from_s (a stuck sensor).
    """
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    plates = {}
    for index, v in enumerate(vehicles):
        style = "ir" if "night" in (*conditions, *v.conditions) else v.style
        plates[index] = render_plate(v.plate, np.random.default_rng(seed + index), style=style)
    total = int(round(duration_s * fps))
    frozen: np.ndarray | None = None
    backgrounds: dict[int, np.ndarray] = {}   # the road drawn once per phase: rendering is the rig's slowest step
    empty_jpeg: dict[int, bytes] = {}
    for frame_no in range(total):
        t = frame_no / fps
        if freeze is not None and freeze[0] <= t < freeze[0] + freeze[1] and frozen is not None:
            cv2.imwrite(str(folder / f"frame_{frame_no:06d}.jpg"), frozen, [cv2.IMWRITE_JPEG_QUALITY, 90])
            continue
        present = [(i, v) for i, v in enumerate(vehicles) if v.enter_s <= t < v.leave_s]
        key = frame_no % BACKGROUNDS
        if key not in backgrounds:
            backgrounds[key] = _background(rng, key)
        if not present and not conditions and freeze is None:   # empty road: the same bytes each lap
            if key not in empty_jpeg:
                empty_jpeg[key] = cv2.imencode(".jpg", backgrounds[key], [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
            (folder / f"frame_{frame_no:06d}.jpg").write_bytes(empty_jpeg[key])
            continue
        img = backgrounds[key].copy()
        looks = set(conditions)
        for _, v in present:
            looks.update(v.conditions)
        if "night" in looks:
            img = _night(img)
        glare_at = None
        for index, v in present:
            p = (t - v.enter_s) / max(v.leave_s - v.enter_s, 1e-6)
            drift = int(40 * p * (1 if v.lane == "left" else -1 if v.lane == "right" else 0))
            colour = (35, 35, 40) if "night" in looks else COLOURS[index % len(COLOURS)]
            cx, base_y, scale = LANE_X.get(v.lane, 640) + drift, int(560 + 120 * p), 0.85 + 0.6 * p
            _car(img, plates[index], cx, base_y, scale, colour)
            if "glare" in v.conditions or "glare" in conditions:
                glare_at = (cx + int(230 * scale), base_y - int(200 * scale))
        if glare_at is not None:
            img = _glare(img, *glare_at)
        if "rain" in looks:
            img = _rain(img, rng)
        if freeze is not None and abs(t - freeze[0]) < 0.5 / fps:
            frozen = img
        cv2.imwrite(str(folder / f"frame_{frame_no:06d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return total


def frame_size() -> tuple[int, int]:
    return FRAME_SIZE
