"""Rendered road scenes with plates on vehicles: the detector's only training data, and the demo's frames.

The real plate photos within reach are AGPL evaluation data, so the detector learns from scenes drawn
here. What matters for a plate detector is not photo-realism but the right confusers around the
plate: car bodies with tail lights and bumpers, badges and stickers with text, signs, light blank
rectangles, plate frames with dealer names, cluttered textures, and the camera's sins (perspective up
to about 30 degrees, blur, noise, glare, JPEG, grayscale IR night look with retro-reflective plates).

`compose_scene` takes already rendered plate crops (so training can mix any plate source);
`render_scene` draws the plates with `firmware.synthetic.plate.render_plate`. Both return the plate
quads (TL, TR, BR, BL corners, float32 image pixels) so a label is exact, never estimated.
"""

from __future__ import annotations

import cv2
import numpy as np

from firmware.synthetic.plate import ALPHABET, render_plate

_WORDS = ("TOYOTA", "HONDA", "FORD", "CAMRY", "ACCORD", "HYBRID", "4X4", "SALE", "STOP", "EXIT", "PARKING",
          "NO PARKING", "DEALER", "AUTO MALL", "SPEED LIMIT 35", "ONE WAY", "OPEN", "PIZZA", "HOTEL",
          "BABY ON BOARD", "COEXIST", "V6", "AWD", "TURBO", "SUBARU", "JEEP", "F-150", "POLICE", "TAXI")
_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
          cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN)


def _color(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


def _random_text(rng: np.random.Generator) -> str:
    if rng.random() < 0.6:
        return _WORDS[int(rng.integers(len(_WORDS)))]
    n = int(rng.integers(2, 9))
    return "".join(ALPHABET[int(i)] for i in rng.integers(0, len(ALPHABET), n))


def _put_text(img: np.ndarray, rng: np.random.Generator, x: int, y: int, height: float, color) -> None:
    font = _FONTS[int(rng.integers(len(_FONTS)))]
    scale = max(0.2, height / 22.0)
    cv2.putText(img, _random_text(rng), (int(x), int(y)), font, scale, color,
                max(1, int(scale * rng.uniform(1, 3))), cv2.LINE_AA)


def _fractal(rng: np.random.Generator, h: int, w: int, octaves: int = 4) -> np.ndarray:
    """Zero-mean multi-scale noise (h, w) float32: surfaces in photos are never flat."""
    out = np.zeros((h, w), np.float32)
    for o in range(octaves):
        cell = max(2, int(min(h, w) / (2 ** (o + 1))))
        small = rng.normal(0, 1.0 / (o + 1), (max(2, h // cell), max(2, w // cell))).astype(np.float32)
        out += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return out


def _clutter(img: np.ndarray, rng: np.random.Generator, n: int, max_size: float) -> None:
    """Many small shapes everywhere, so fine detail alone never says 'plate'."""
    h, w = img.shape[:2]
    for _ in range(n):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        s = max(1, int(rng.uniform(1, max_size)))
        c = _color(rng)
        r = rng.random()
        if r < 0.35:
            cv2.rectangle(img, (x, y), (x + s, y + int(s * rng.uniform(0.2, 1.5))), c, -1 if rng.random() < 0.7 else 1)
        elif r < 0.6:
            cv2.circle(img, (x, y), max(1, s // 2), c, -1 if rng.random() < 0.6 else 1, cv2.LINE_AA)
        elif r < 0.85:
            cv2.line(img, (x, y), (x + int(rng.normal(0, s)), y + int(rng.normal(0, s))), c, int(rng.integers(1, 3)),
                     cv2.LINE_AA)
        else:  # hatching / grille-like bars
            for k in range(int(rng.integers(2, 6))):
                cv2.line(img, (x, y + k * max(2, s // 4)), (x + s * 2, y + k * max(2, s // 4)), c, 1)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Sky/buildings/road layout or plain clutter, with texture."""
    img = np.empty((h, w, 3), np.float32)
    kind = rng.random()
    if kind < 0.6:  # street: sky, buildings, road
        horizon = int(h * rng.uniform(0.2, 0.6))
        img[:horizon] = _color(rng, 90, 256)
        img[horizon:] = _color(rng, 40, 160)
        for _ in range(int(rng.integers(2, 10))):  # buildings
            bx, bw = int(rng.integers(-w // 4, w)), int(rng.uniform(0.08, 0.4) * w)
            by = int(rng.uniform(0.0, horizon + 1))
            cv2.rectangle(img, (bx, by), (bx + bw, horizon + int(h * 0.05)), _color(rng, 30, 230), -1)
            if rng.random() < 0.6:  # windows grid: many small light rectangles, a classic false positive
                ww = max(2, int(bw * rng.uniform(0.05, 0.15)))
                for yy in range(by + ww, horizon, int(ww * 2.2)):
                    for xx in range(bx + ww, bx + bw - ww, int(ww * 2)):
                        cv2.rectangle(img, (xx, yy), (xx + ww, yy + int(ww * 1.2)), _color(rng, 60, 255), -1)
        for _ in range(int(rng.integers(0, 6))):  # lane marks / curbs
            y0 = int(rng.uniform(horizon, h))
            cv2.line(img, (int(rng.integers(0, w)), y0), (int(rng.integers(0, w)), int(rng.uniform(horizon, h))),
                     _color(rng, 150, 256), int(rng.integers(1, 8)))
    else:  # clutter
        img[:] = _color(rng)
        for _ in range(int(rng.integers(5, 40))):
            c = _color(rng)
            p = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            s = int(rng.uniform(0.02, 0.3) * max(h, w))
            if rng.random() < 0.5:
                cv2.rectangle(img, p, (p[0] + s, p[1] + int(s * rng.uniform(0.2, 2))), c, -1)
            else:
                cv2.ellipse(img, p, (s, int(s * rng.uniform(0.2, 1))), float(rng.uniform(0, 180)), 0, 360, c, -1)
    # smooth lighting gradient and grain
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    img += ((gx / w - 0.5) * rng.uniform(-60, 60) + (gy / h - 0.5) * rng.uniform(-60, 60))[..., None]
    tex = _fractal(rng, h, w)[..., None] * rng.uniform(5, 35)
    img += tex * (1 + 0.3 * rng.normal(0, 1, 3).astype(np.float32))  # slightly coloured texture
    out = np.clip(img, 0, 255).astype(np.uint8)
    _clutter(out, rng, int(rng.integers(20, 200)), max(3.0, 0.04 * max(h, w)))
    return out


def _distractors(img: np.ndarray, rng: np.random.Generator, scale: float) -> None:
    """Signs, stickers and text that are not plates; light blank rectangles."""
    h, w = img.shape[:2]
    for _ in range(int(rng.integers(0, 8))):
        th = scale * rng.uniform(0.1, 0.8)
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        if rng.random() < 0.5:  # a sign panel with text
            pw, ph = int(th * rng.uniform(2, 9)), int(th * rng.uniform(1.2, 4))
            cv2.rectangle(img, (x, y), (x + pw, y + ph), _color(rng), -1)
            _put_text(img, rng, x + th * 0.2, y + ph * 0.7, th * 0.7, _color(rng))
        elif rng.random() < 0.5:
            _put_text(img, rng, x, y, th, _color(rng))
        else:  # blank light rectangle, plate-shaped or not
            pw = int(th * rng.uniform(1.5, 5))
            cv2.rectangle(img, (x, y), (x + pw, y + int(pw / rng.uniform(0.8, 3.5))), _color(rng, 150, 256), -1)


def _car(img: np.ndarray, rng: np.random.Generator, cx: float, plate_cy: float, pw: float) -> None:
    """A car rear or front drawn around where the plate goes: shaded body, window, lights with
    reflections, bumper, emblem, grille, badges, a recess around the plate."""
    H, W = img.shape[:2]
    body_w = pw * rng.uniform(4.0, 6.5)
    body_h = body_w * rng.uniform(0.55, 0.85)
    x0, x1 = int(cx - body_w / 2), int(cx + body_w / 2)
    y_bottom = plate_cy + pw * rng.uniform(0.3, 0.9)
    y0 = int(y_bottom - body_h)
    color = _color(rng, 0, 256) if rng.random() < 0.6 else (int(rng.integers(0, 230)),) * 3
    r = int(body_w * 0.08)
    cv2.rectangle(img, (x0 + r, y0), (x1 - r, int(y_bottom)), color, -1)
    cv2.rectangle(img, (x0, y0 + r), (x1, int(y_bottom)), color, -1)
    front = rng.random() < 0.35
    # window (rear glass / windscreen) with reflections
    wy0, wy1 = y0 + int(body_h * 0.08), y0 + int(body_h * rng.uniform(0.3, 0.45))
    cv2.rectangle(img, (x0 + int(body_w * 0.12), wy0), (x1 - int(body_w * 0.12), wy1), _color(rng, 0, 120), -1)
    for _ in range(int(rng.integers(0, 4))):
        xa = int(rng.uniform(x0, x1))
        cv2.line(img, (xa, wy0), (xa + int(body_w * rng.uniform(0.05, 0.3)), wy1), _color(rng, 120, 256),
                 int(rng.integers(1, 5)), cv2.LINE_AA)
    # lights: red at the rear, white/amber at the front, with inner structure
    ly = int(wy1 + body_h * 0.06)
    lw, lh = int(body_w * rng.uniform(0.1, 0.22)), int(body_h * rng.uniform(0.08, 0.2))
    base = (int(rng.integers(150, 256)),) * 3 if front else (int(rng.integers(0, 60)), int(rng.integers(0, 60)),
                                                             int(rng.integers(150, 256)))
    for lx in (x0 + 4, x1 - 4 - lw):
        cv2.rectangle(img, (lx, ly), (lx + lw, ly + lh), base, -1)
        for _ in range(int(rng.integers(1, 4))):
            sx, sy = lx + int(rng.uniform(0, lw * 0.7)), ly + int(rng.uniform(0, lh * 0.7))
            cv2.rectangle(img, (sx, sy), (sx + max(1, lw // 4), sy + max(1, lh // 3)), _color(rng, 100, 256),
                          -1 if rng.random() < 0.5 else 1)
    if front:  # grille: bars between the lights
        gy0, gy1 = ly, ly + int(lh * 1.3)
        for k in range(int(rng.integers(3, 8))):
            yy = gy0 + int((gy1 - gy0) * k / 7)
            cv2.line(img, (x0 + lw + 8, yy), (x1 - lw - 8, yy), _color(rng, 0, 256), max(1, int(pw * 0.03)))
    # emblem: chrome ellipse, sometimes with a letter
    ex, ey = int(cx + rng.normal(0, pw * 0.1)), int(ly + lh * rng.uniform(0.2, 1.0))
    cv2.ellipse(img, (ex, ey), (max(2, int(pw * 0.18)), max(1, int(pw * 0.1))), 0, 0, 360,
                _color(rng, 150, 256), max(1, int(pw * 0.025)), cv2.LINE_AA)
    # bumper with a recess around the plate
    by = int(plate_cy + pw * rng.uniform(0.15, 0.35))
    cv2.rectangle(img, (x0, by), (x1, int(y_bottom)), _color(rng, 0, 120), -1)
    if rng.random() < 0.5:
        rc = tuple(int(v * rng.uniform(0.4, 0.9)) for v in color)
        cv2.rectangle(img, (int(cx - pw * 0.65), int(plate_cy - pw * 0.33)), (int(cx + pw * 0.65), int(plate_cy + pw * 0.33)),
                      rc, -1)
    # badges / model names / sensors / stickers
    for _ in range(int(rng.integers(0, 4))):
        _put_text(img, rng, cx + rng.uniform(-0.5, 0.3) * body_w, ly + rng.uniform(0, 0.3) * body_h,
                  pw * rng.uniform(0.08, 0.25), _color(rng, 0, 256))
    if rng.random() < 0.3:  # bumper sticker (text-free graphic or words)
        sx, sy = int(cx + rng.uniform(-0.45, 0.2) * body_w), int(by + (y_bottom - by) * 0.2)
        sw, sh = int(pw * rng.uniform(0.6, 1.2)), int(pw * rng.uniform(0.15, 0.35))
        cv2.rectangle(img, (sx, sy), (sx + sw, sy + sh), _color(rng), -1)
        if rng.random() < 0.6:
            _put_text(img, rng, sx + 2, sy + sh * 0.8, sh * 0.6, _color(rng))
    # tyres
    for tx in (x0 + int(body_w * 0.05), x1 - int(body_w * 0.2)):
        cv2.rectangle(img, (tx, int(y_bottom) - 2), (tx + int(body_w * 0.15), int(y_bottom + body_h * 0.1)),
                      (20, 20, 20), -1)
    # shading: vertical gradient + a specular streak over the whole body
    ya, yb, xa, xb = max(0, y0), min(H, int(y_bottom)), max(0, x0), min(W, x1)
    if yb > ya and xb > xa:
        roi = img[ya:yb, xa:xb].astype(np.float32)
        g = np.linspace(rng.uniform(-50, 30), rng.uniform(-30, 50), yb - ya, dtype=np.float32)[:, None, None]
        roi += g + _fractal(rng, yb - ya, xb - xa, 3)[..., None] * rng.uniform(3, 15)
        img[ya:yb, xa:xb] = np.clip(roi, 0, 255).astype(np.uint8)


def _plate_quad(rng: np.random.Generator, cx: float, cy: float, pw: float, ph: float,
                max_tilt_deg: float) -> np.ndarray:
    """Corners of a plate seen in perspective: yaw/pitch foreshortening plus in-plane rotation."""
    roll = np.deg2rad(rng.normal(0, max_tilt_deg / 3) if rng.random() < 0.8 else rng.uniform(-1, 1) * max_tilt_deg)
    roll = float(np.clip(roll, -np.deg2rad(max_tilt_deg), np.deg2rad(max_tilt_deg)))
    yaw = rng.uniform(-1, 1) * 0.25  # relative height difference between left and right edge
    pitch = rng.uniform(-1, 1) * 0.15
    hw, hh = pw / 2, ph / 2
    pts = np.array([[-hw, -hh * (1 - yaw)], [hw, -hh * (1 + yaw)], [hw, hh * (1 + yaw)], [-hw, hh * (1 - yaw)]],
                   np.float32)
    pts[:2, 0] *= 1 - pitch
    pts[2:, 0] *= 1 + pitch
    pts[:, 0] += pts[:, 1] * rng.normal(0, 0.08)  # a little shear
    c, s = np.cos(roll), np.sin(roll)
    rot = np.array([[c, -s], [s, c]], np.float32)
    return (pts @ rot.T + np.array([cx, cy], np.float32)).astype(np.float32)


def _paste(img: np.ndarray, crop: np.ndarray, quad: np.ndarray) -> None:
    """Warp `crop` onto `quad` of img, touching only the quad's bounding rectangle."""
    h, w = crop.shape[:2]
    H, W = img.shape[:2]
    x0, y0 = np.floor(quad.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int) + 2
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
    if x1 <= x0 or y1 <= y0:
        return
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(src, (quad - np.array([x0, y0], np.float32)).astype(np.float32))
    size = (x1 - x0, y1 - y0)
    warped = cv2.warpPerspective(crop.astype(np.float32), m, size, flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.ones((h, w), np.float32), m, size, flags=cv2.INTER_LINEAR)[..., None]
    roi = img[y0:y1, x0:x1]
    roi[:] = np.clip(roi * (1 - mask) + warped * mask, 0, 255).astype(np.uint8)


def frame_plate(crop: np.ndarray, rng: np.random.Generator,
                p: float = 0.35) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """With probability `p`, surround the plate with a dealer frame; returns the image and the plate's box in it.

    Shared with the OCR's training crops: on real cars the detector's quad often takes in the frame.
    """
    h, w = crop.shape[:2]
    if rng.random() > p:
        return crop, (0.0, 0.0, float(w), float(h))
    side, top, bottom = int(w * rng.uniform(0.02, 0.06)), int(h * rng.uniform(0.03, 0.12)), int(h * rng.uniform(0.08, 0.25))
    out = np.empty((h + top + bottom, w + 2 * side, 3), np.uint8)
    out[:] = _color(rng, 0, 256) if rng.random() < 0.4 else (int(rng.integers(0, 50)),) * 3
    out[top:top + h, side:side + w] = crop
    if rng.random() < 0.7 and bottom > 6:
        _put_text(out, rng, side + w * 0.15, top + h + bottom * 0.8, bottom * 0.6, _color(rng, 150, 256))
    return out, (float(side), float(top), float(side + w), float(top + h))


def compose_scene(rng: np.random.Generator, plates: list[np.ndarray], size: tuple[int, int] = (720, 1280),
                  width_range: tuple[float, float] = (20.0, 400.0), max_tilt_deg: float = 30.0,
                  night: bool | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
    """Scene of `size` (h, w) with each plate crop on a vehicle; returns (image_bgr uint8, quads).

    Plate widths are drawn log-uniformly from `width_range` (pixels). Plates that would not fit are
    still placed (partly cropped plates happen); their quads may extend past the image.
    """
    h, w = size
    img = _background(rng, h, w)
    _distractors(img, rng, scale=float(np.sqrt(h * w) * 0.06))
    lo, hi = np.log(width_range[0]), np.log(min(width_range[1], w * 0.8))
    # place plates left to right in slots so several per frame rarely overlap
    n = len(plates)
    order = rng.permutation(n)
    placed = []
    for slot, idx in enumerate(order):  # cars first, all of them, so no car hides an earlier plate
        crop, inner_box = frame_plate(plates[idx], rng)
        px0, py0, px1, py1 = inner_box
        pw = float(np.exp(rng.uniform(lo, hi))) if hi > lo else width_range[0]
        if n > 1:
            pw = min(pw, w / n * 0.6)
        slot_w = w / max(1, n)
        cx = slot_w * slot + rng.uniform(0.25, 0.75) * slot_w
        cy = rng.uniform(0.25, 0.9) * h
        if rng.random() < 0.8:
            _car(img, rng, cx + rng.normal(0, pw * 0.3), cy, pw)
        placed.append((idx, crop, inner_box, cx, cy, pw))
    by_index: dict[int, np.ndarray] = {}
    for idx, crop, (px0, py0, px1, py1), cx, cy, pw in placed:
        # the quad of the whole crop (frame included), then the plate's own corners inside it
        ch, cw = crop.shape[:2]
        k = pw / (px1 - px0)
        outer = _plate_quad(rng, cx, cy, cw * k, ch * k, max_tilt_deg)
        _paste(img, crop, outer)
        m = cv2.getPerspectiveTransform(np.array([[0, 0], [cw, 0], [cw, ch], [0, ch]], np.float32), outer)
        inner = np.array([[[px0, py0], [px1, py0], [px1, py1], [px0, py1]]], np.float32)
        by_index[idx] = cv2.perspectiveTransform(inner, m)[0].astype(np.float32)
    quads = [by_index[i] for i in range(n)]
    if rng.random() < 0.5:  # more text in the scene, drawn after the cars (stickers, signs in front)
        _distractors(img, rng, scale=float(np.sqrt(h * w) * 0.04))
    return _camera(img, rng, night), quads


def _camera(img: np.ndarray, rng: np.random.Generator, night: bool | None) -> np.ndarray:
    """Global camera look: exposure, glare, blur (incl. motion), noise, IR mono, JPEG."""
    h, w = img.shape[:2]
    img = img.astype(np.float32)
    if night is None:
        night = rng.random() < 0.25
    if night:  # IR: dark scene, reflective plates and lights stand out, mono
        g = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32)
        g = g * rng.uniform(0.3, 1.0) + rng.uniform(-20, 20)
        g = (g - g.mean()) * rng.uniform(1.0, 2.0) + g.mean()
        img = np.repeat(g[..., None], 3, axis=2)
    else:
        img = img * rng.uniform(0.6, 1.3) + rng.uniform(-30, 30)
        if rng.random() < 0.1:
            g = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32)
            img = np.repeat(g[..., None], 3, axis=2)
    if rng.random() < 0.3:  # glare blobs
        mask = np.zeros((h, w), np.float32)
        for _ in range(int(rng.integers(1, 4))):
            cv2.circle(mask, (int(rng.integers(0, w)), int(rng.integers(0, h))),
                       int(rng.uniform(0.02, 0.2) * max(h, w)), 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, 0.03 * max(h, w)))
        img = img + mask[..., None] * rng.uniform(40, 160)
    r = rng.random()
    if r < 0.4:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.5))
    elif r < 0.55:  # horizontal motion blur
        k = int(rng.integers(3, 9))
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k
        img = cv2.filter2D(img, -1, kernel)
    if rng.random() < 0.7:
        img = img + rng.normal(0, rng.uniform(1, 10), img.shape).astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.6:
        ok, enc = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 95))])
        if ok:
            out = cv2.imdecode(enc, cv2.IMREAD_COLOR)
    return out


def render_scene(rng: np.random.Generator, texts: list[str], size: tuple[int, int] = (720, 1280),
                 width_range: tuple[float, float] = (60.0, 260.0), max_tilt_deg: float = 15.0,
                 night: bool | None = None) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """Vehicles-with-plates scene: (image_bgr, [(text, quad (4, 2) float32 TL, TR, BR, BL)]).

    Defaults give plates a camera on a patrol car typically sees; training widens the ranges.
    """
    plates = [render_plate(t, rng) for t in texts]
    image, quads = compose_scene(rng, plates, size, width_range, max_tilt_deg, night)
    return image, list(zip(texts, quads))
