"""Rendered vehicle passes: the unit sees each vehicle in several frames and keeps one consensus read.

A change that reads single photos better can still read passes worse (a confident wrong frame now
outvotes the rest, or a slower reader sees fewer frames), so `alpr-unit eval-passes` scores one
consensus read per vehicle over rendered passes, under the conditions of the road: a plate closing
in at 0-150 km/h (its width grows frame by frame and it smears with speed), night IR, low sun glare on
the plate, rain (streaks and a wet blur) and plain day. Each pass renders one plate (text, style,
font, dealer frame fixed) on one car, seen in `frames` frames at 15 frames/s from ~12 m; every frame
also gets the scene renderer's camera (noise, JPEG, random blur/glare/exposure). Frames go through the
Recognizer and the unit's ConsensusTracker (default config) exactly as in the daemon; a pass is right
when a read it emits votes the plate's text, and every emitted read with another text is a false read.
Rendered data only (firmware/synthetic): nothing here is a real photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from firmware.config import ConsensusConfig
from firmware.consensus import ConsensusTracker, vote
from firmware.synthetic.plate import random_plate_text, render_plate
from firmware.synthetic.scene import _background, _camera, _car, _distractors, _paste, _plate_quad, frame_plate

CONDITIONS = ("day", "night", "glare", "rain")
FPS = 15.0
FOCAL_PX = 1500.0   # a 1280-px-wide ALPR camera with a ~46 degree lens
PLATE_M = 0.305     # US plate width


@dataclass(frozen=True)
class PassSpec:
    text: str
    condition: str
    speed_kmh: float
    frames: int


def plate_widths(speed_kmh: float, frames: int, start_m: float = 12.0, nearest_m: float = 3.0) -> list[float]:
    """Plate width in pixels in each frame of a pass closing at `speed_kmh` from `start_m` (never nearer than `nearest_m`)."""
    step = speed_kmh / 3.6 / FPS
    return [FOCAL_PX * PLATE_M / max(nearest_m, start_m - k * step) for k in range(frames)]


def motion_blur(img: np.ndarray, length_px: float) -> np.ndarray:
    """Horizontal smear of `length_px` pixels (1 or less: unchanged)."""
    k = int(round(length_px))
    if k <= 1:
        return img
    kernel = np.zeros((k, k), np.float32)
    kernel[k // 2, :] = 1.0 / k
    return cv2.filter2D(img, -1, kernel)


def _condition(img: np.ndarray, rng: np.random.Generator, condition: str, quad: np.ndarray) -> np.ndarray:
    out = img.astype(np.float32)
    if condition == "glare":  # low sun on the plate: a bright soft blob over part of it
        mask = np.zeros(img.shape[:2], np.float32)
        c = quad.mean(0) + rng.normal(0, 0.3, 2) * (quad[1] - quad[0])
        r = float(np.linalg.norm(quad[1] - quad[0])) * rng.uniform(0.25, 0.6)
        cv2.circle(mask, (int(c[0]), int(c[1])), max(2, int(r)), 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, r / 2))
        out += mask[..., None] * rng.uniform(80, 170)
    elif condition == "rain":  # streaks and a wet, soft image
        h, w = img.shape[:2]
        for _ in range(int(rng.integers(150, 400))):
            x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
            length = int(rng.integers(8, 30))
            cv2.line(out, (x, y), (x + length // 6, y + length), (200, 200, 200), 1)
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.8, 1.6)) * rng.uniform(0.7, 0.95)
    return np.clip(out, 0, 255).astype(np.uint8)


def render_pass(rng: np.random.Generator, spec: PassSpec, size: tuple[int, int] = (720, 1280)) -> list[np.ndarray]:
    """The frames of one pass (BGR uint8)."""
    h, w = size
    framed, (px0, _, px1, _) = frame_plate(render_plate(spec.text, rng), rng)
    background = _background(rng, h, w)
    _distractors(background, rng, scale=float(np.sqrt(h * w) * 0.06))
    cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.45, 0.8) * h
    drift = rng.uniform(-1, 1) * 0.01 * w  # the car moves a little across the frame as it closes in
    geometry = int(rng.integers(1 << 30))
    frames = []
    for k, pw in enumerate(plate_widths(spec.speed_kmh, spec.frames)):
        img = background.copy()
        x = cx + drift * k
        scene_rng = np.random.default_rng(geometry)  # the same car and plate pose in every frame
        _car(img, scene_rng, x, cy, pw)
        ch, cw = framed.shape[:2]
        scale = pw / (px1 - px0)
        quad = _plate_quad(scene_rng, x, cy, cw * scale, ch * scale, 10.0)
        _paste(img, framed, quad)
        img = motion_blur(img, spec.speed_kmh / 150.0 * 0.06 * pw)  # ~6 % of its width at 150 km/h
        img = _condition(img, rng, spec.condition, quad)
        frames.append(_camera(img, rng, spec.condition == "night"))
    return frames


def pass_specs(rng: np.random.Generator, n: int, frames: int) -> list[PassSpec]:
    """`n` passes, conditions in turn, speeds uniform in 0-150 km/h."""
    return [PassSpec(random_plate_text(rng), CONDITIONS[i % len(CONDITIONS)], float(rng.uniform(0, 150)), frames)
            for i in range(n)]


def score_pass(recognizer, frames: list[np.ndarray], text: str) -> dict:
    """Run one pass through the recogniser and the unit's consensus; {'right': bool, 'false_reads': int, 'reads': [...]}."""
    tracker = ConsensusTracker(**ConsensusConfig().model_dump())
    emitted = []
    for seq, frame in enumerate(frames):
        emitted += tracker.update(seq, int(seq / FPS * 1e9), recognizer.recognize(frame))
    emitted += tracker.flush()
    reads = [vote([s.candidate for s in t.sightings]).text for t in emitted]
    return {"right": text in reads, "false_reads": sum(1 for r in reads if r != text), "reads": reads}


def evaluate_passes(recognizer, n: int = 40, frames: int = 8, seed: int = 21) -> dict:
    """Consensus exact rate and false reads per pass, overall and per condition and speed band."""
    rng = np.random.default_rng(seed)
    rows = []
    for spec in pass_specs(rng, n, frames):
        result = score_pass(recognizer, render_pass(rng, spec), spec.text)
        rows.append((spec, result))

    def summary(selected) -> dict:
        k = len(selected)
        return {"passes": k, "right": sum(r["right"] for _, r in selected),
                "exact": round(sum(r["right"] for _, r in selected) / k, 4) if k else 0.0,
                "false_reads_per_pass": round(sum(r["false_reads"] for _, r in selected) / k, 4) if k else 0.0}

    out = {"frames_per_pass": frames, "seed": seed, **summary(rows)}
    out["by_condition"] = {c: summary([x for x in rows if x[0].condition == c]) for c in CONDITIONS}
    out["by_speed_kmh"] = {band: summary([x for x in rows if lo <= x[0].speed_kmh < hi])
                           for band, (lo, hi) in {"0-50": (0, 50), "50-100": (50, 100), "100-150": (100, 151)}.items()}
    return out
