"""Training samples for PlateNet: synthetic scenes letterboxed like the runtime does, plus targets.

The letterbox here must match firmware/recognition/detector.py exactly (top-left, pad 0, one
scale), otherwise the model learns a geometry the unit never shows it.
"""

import cv2
import numpy as np

from firmware.synthetic.plate import random_plate_text, render_plate
from firmware.synthetic.scene import compose_scene

INPUT_HW = (384, 512)
STRIDE = 4
GEO_SCALE = 32.0
ASPECTS = ((9, 16), (3, 4), (2, 3), (1, 1), (16, 9), (10, 16), (4, 5))


def letterbox(image: np.ndarray, hw=INPUT_HW) -> tuple[np.ndarray, float]:
    h, w = image.shape[:2]
    s = min(hw[0] / h, hw[1] / w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    out = np.zeros((hw[0], hw[1], 3), np.uint8)
    out[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    return out, s


def make_targets(quads: list[np.ndarray], hw=INPUT_HW, shrink: float = 0.55):
    """score (H/4, W/4) 0/1, weight (0 on the ring between shrunk and full plate), geo (8, H/4, W/4), geo_norm."""
    mh, mw = hw[0] // STRIDE, hw[1] // STRIDE
    score = np.zeros((mh, mw), np.float32)
    weight = np.ones((mh, mw), np.float32)
    geo = np.zeros((8, mh, mw), np.float32)
    norm = np.ones((mh, mw), np.float32)
    ys, xs = np.mgrid[0:mh, 0:mw]
    cx_px, cy_px = xs * STRIDE + (STRIDE - 1) / 2, ys * STRIDE + (STRIDE - 1) / 2
    # largest plates last so small ones on top are not overwritten (rare overlaps)
    order = sorted(range(len(quads)), key=lambda i: -cv2.contourArea(quads[i].astype(np.float32)))
    for i in order:
        q = quads[i].astype(np.float32)
        to_map = lambda p: np.round(((p - (STRIDE - 1) / 2) / STRIDE) * 16).astype(np.int32)  # noqa: E731
        full = np.zeros((mh, mw), np.uint8)
        cv2.fillPoly(full, [to_map(q)], 1, lineType=cv2.LINE_8, shift=4)
        c = q.mean(axis=0)
        small = c + (q - c) * shrink
        pos = np.zeros((mh, mw), np.uint8)
        cv2.fillPoly(pos, [to_map(small)], 1, lineType=cv2.LINE_8, shift=4)
        ci, cj = int(round((c[1] - (STRIDE - 1) / 2) / STRIDE)), int(round((c[0] - (STRIDE - 1) / 2) / STRIDE))
        if 0 <= ci < mh and 0 <= cj < mw:
            pos[ci, cj] = 1
        weight[full > 0] = 0.0
        m = pos > 0
        if not m.any():
            continue
        weight[m] = 1.0
        score[m] = 1.0
        for k in range(4):
            geo[2 * k][m] = (q[k, 0] - cx_px[m]) / GEO_SCALE
            geo[2 * k + 1][m] = (q[k, 1] - cy_px[m]) / GEO_SCALE
        ph = 0.5 * (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1]))
        norm[m] = max(ph / GEO_SCALE, 0.1)
    return score, weight, geo, norm


def sample(rng: np.random.Generator):
    """One (image 384x512 uint8, score, weight, geo, norm)."""
    r = rng.random()
    n = 0 if r < 0.08 else 1 if r < 0.55 else int(rng.integers(2, 5))
    plates = [render_plate(random_plate_text(rng), rng) for _ in range(n)]
    ah, aw = ASPECTS[int(rng.integers(len(ASPECTS)))]
    s = min(INPUT_HW[0] / ah, INPUT_HW[1] / aw)
    h, w = int(ah * s), int(aw * s)
    if rng.random() < 0.3:  # content smaller than the input (never at runtime, but robust)
        f = rng.uniform(0.7, 1.0)
        h, w = int(h * f), int(w * f)
    width_range = (7.0, 220.0) if rng.random() < 0.7 else (7.0, 40.0)
    img, quads = compose_scene(rng, plates, (h, w), width_range=width_range, max_tilt_deg=30.0)
    canvas = np.zeros((INPUT_HW[0], INPUT_HW[1], 3), np.uint8)
    canvas[:h, :w] = img
    return (canvas,) + make_targets(quads)


def _dim(plate: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lower a plate's contrast and brightness the way shade, dusk and dirt do."""
    p = plate.astype(np.float32)
    c = rng.uniform(0.3, 0.8)
    p = p.mean() + (p - p.mean()) * c
    p = p * rng.uniform(0.5, 1.0)
    return np.clip(p, 0, 255).astype(np.uint8)


def sample_small(rng: np.random.Generator, hw=(256, 448)):
    """Stage-3 sample: half the time small, often dim plates in a scene rendered at 2x and downscaled
    (the way a real camera frame reaches the model), else a normal scene; autolevel as at runtime."""
    from firmware.recognition.detector import autolevel

    h, w = hw
    r = rng.random()
    n = 0 if r < 0.08 else 1 if r < 0.55 else int(rng.integers(2, 5))
    plates = [render_plate(random_plate_text(rng), rng) for _ in range(n)]
    if rng.random() < 0.5:
        plates = [_dim(p, rng) if rng.random() < 0.6 else p for p in plates]
        big, quads = compose_scene(rng, plates, (2 * h, 2 * w), width_range=(18.0, 130.0), max_tilt_deg=30.0)
        img = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA)
        quads = [q / 2 for q in quads]
        if rng.random() < 0.5:
            ok, enc = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 90))])
            img = cv2.imdecode(enc, cv2.IMREAD_COLOR) if ok else img
    else:
        plates = [_dim(p, rng) if rng.random() < 0.2 else p for p in plates]
        img, quads = compose_scene(rng, plates, (h, w), width_range=(7.0, 0.45 * w), max_tilt_deg=30.0)
    img = autolevel(img, (h, w))
    return (img,) + make_targets(quads, hw)
