"""Procedural plate typefaces: uniform-stroke, condensed glyphs in the way US plates are stamped.

The fonts a Debian box carries are book and screen faces; the OCR trained on them alone confused the
shapes plate typefaces are known for: the open-top 4 (read L), the flat-based 2 with a straight
diagonal (read Z), a low-apex W (read H), square-cornered 0/D and 8/B. Plate faces descend from
highway/penitentiary gothics: a constant stroke along straight lines and rounded corners. So each
glyph here is a skeleton (polylines in a unit box) drawn with one pen; a font is a seed that fixes
width, stroke, corner radius and the per-character variants states disagree on (open or closed 4,
flagged 1, serifed I, the depth of M and W, pointed or flat A). Our own code, Apache-2.0, no font
files, so the GPU box renders the same plates as here.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

GLYPH_H = 160  # render height in pixels; the renderer resizes to the cell anyway


class _Pen:
    """Open polylines in pixel space (y grows downwards), drawn later with one pen width."""

    def __init__(self) -> None:
        self.paths: list[list[tuple[float, float]]] = []

    def path(self, pts: list[tuple[float, float]]) -> "_Pen":
        self.paths.append(list(pts))
        return self

    def line(self, *pts: tuple[float, float]) -> "_Pen":
        return self.path(pts)


def _arc(cx: float, cy: float, r: float, a0: float, a1: float, n: int = 10) -> list[tuple[float, float]]:
    """Points on a circle from angle a0 to a1 (degrees; 0 = right, 90 = down)."""
    a = np.deg2rad(np.linspace(a0, a1, n))
    return [(cx + r * np.cos(t), cy + r * np.sin(t)) for t in a]


def _rrect(x0: float, y0: float, x1: float, y1: float, r: float) -> list[tuple[float, float]]:
    """Closed rounded rectangle, clockwise from the top-left corner's end."""
    r = max(0.0, min(r, (x1 - x0) / 2, (y1 - y0) / 2))
    return (_arc(x1 - r, y0 + r, r, -90, 0) + _arc(x1 - r, y1 - r, r, 0, 90)
            + _arc(x0 + r, y1 - r, r, 90, 180) + _arc(x0 + r, y0 + r, r, 180, 270) + [(x1 - r, y0)])


def font_params(seed: int) -> dict:
    """A typeface's look, fixed by its seed."""
    rng = np.random.default_rng(seed)
    return {
        "aspect": float(rng.uniform(0.42, 0.6)),   # glyph width / height
        "stroke": float(rng.uniform(0.075, 0.15)),  # pen width / height
        "radius": float(rng.uniform(0.12, 0.5)),    # corner radius / width
        "middle": float(rng.uniform(0.45, 0.52)),   # height of E, H, B's waist
        "open4": bool(rng.random() < 0.5),
        "flag1": bool(rng.random() < 0.8),
        "base1": bool(rng.random() < 0.35),
        "serifI": bool(rng.random() < 0.75),
        "flat3": bool(rng.random() < 0.3),
        "flatA": bool(rng.random() < 0.5),
        "m_depth": float(rng.uniform(0.45, 1.0)),   # where M's V ends (1 = on the baseline)
        "w_peak": float(rng.uniform(0.0, 0.5)),     # where W's middle apex stops (0 = top)
        "bar7": bool(rng.random() < 0.08),
        "straight7": bool(rng.random() < 0.4),
        "g_spur": bool(rng.random() < 0.5),
        "j_top": bool(rng.random() < 0.3),
    }


def _skeleton(ch: str, p: dict, w: float, h: float) -> _Pen:  # noqa: C901 - one branch per character
    s = p["stroke"] * h
    L, R_, T, B = s / 2, w - s / 2, s / 2, h - s / 2
    cx, iw, ih = w / 2, R_ - L, B - T
    r = min(p["radius"] * w, iw / 2, ih / 4)
    m = T + ih * p["middle"]
    pen = _Pen()
    if ch == "0":
        return pen.path(_rrect(L, T, R_, B, r))
    if ch == "O":
        return pen.path(_rrect(L, T, R_, B, min(iw / 2, max(r, 0.45 * iw))))
    if ch == "Q":
        pen.path(_rrect(L, T, R_, B, min(iw / 2, max(r, 0.45 * iw))))
        return pen.line((cx + 0.1 * iw, T + 0.7 * ih), (R_ + 0.05 * iw, B + 0.02 * ih))
    if ch == "D":
        rd = min(iw / 2, max(r, 0.4 * iw))
        return pen.path([(L, T)] + _arc(R_ - rd, T + rd, rd, -90, 0) + _arc(R_ - rd, B - rd, rd, 0, 90) + [(L, B), (L, T)])
    if ch == "1":
        x = L + 0.62 * iw
        pen.line((x, T), (x, B))
        if p["flag1"]:
            pen.line((x, T), (L + 0.1 * iw, T + 0.22 * ih))
        if p["base1"]:
            pen.line((L + 0.1 * iw, B), (R_, B))
        return pen
    if ch == "I":
        pen.line((cx, T), (cx, B))
        if p["serifI"]:
            pen.line((L + 0.15 * iw, T), (R_ - 0.15 * iw, T)).line((L + 0.15 * iw, B), (R_ - 0.15 * iw, B))
        return pen
    if ch == "2":
        y2 = T + max(r, 0.3 * ih)
        return pen.path(_arc(L + r, T + r, r, 180, 270) + _arc(R_ - r, T + r, r, -90, 0) + [(R_, y2), (L, B), (R_, B)])
    if ch == "3":
        if p["flat3"]:
            pen.path([(L, T), (R_, T), (cx - 0.05 * iw, m)])
        else:
            pen.path(_arc(L + r, T + r, r, 180, 270) + _arc(R_ - r, T + r, r, -90, 0) + _arc(R_ - r, m - r, r, 0, 90)
                     + [(cx - 0.1 * iw, m)])
        return pen.path([(cx - 0.1 * iw, m)] + _arc(R_ - r, m + r, r, -90, 0) + _arc(R_ - r, B - r, r, 0, 90)
                        + _arc(L + r, B - r, r, 90, 180))
    if ch == "4":
        xv, yb = L + 0.78 * iw, T + 0.66 * ih
        if p["open4"]:
            return pen.line((L + 0.1 * iw, T), (L, yb), (R_, yb)).line((xv, T + 0.28 * ih), (xv, B))
        return pen.line((xv, B), (xv, T), (L, yb), (R_, yb))
    if ch == "5":
        y5 = m - 0.04 * ih
        return pen.path([(R_, T), (L + 0.04 * iw, T), (L, y5)] + _arc(R_ - r, y5 + r, r, -90, 0)
                        + _arc(R_ - r, B - r, r, 0, 90) + _arc(L + r, B - r, r, 90, 180))
    if ch in "69":  # 9 is the 6 turned half round
        rl = min(r, (B - m) / 2)
        pen.path(_arc(R_ - r, T + r, r, 0, -90) + _arc(L + r, T + r, r, 270, 180) + _arc(L + rl, B - rl, rl, 180, 90)
                 + _arc(R_ - rl, B - rl, rl, 90, 0) + _arc(R_ - rl, m + rl, rl, 0, -90) + _arc(L + rl, m + rl, rl, 270, 180))
        if ch == "9":
            pen.paths = [[(w - x, h - y) for x, y in path] for path in pen.paths]
        return pen
    if ch == "7":
        pen.line((L, T), (R_, T), (L + (0.45 if p["straight7"] else 0.25) * iw, B))
        if p["bar7"]:
            pen.line((L + 0.25 * iw, m), (R_ - 0.1 * iw, m))
        return pen
    if ch == "8":
        pen.path(_rrect(L + 0.06 * iw, T, R_ - 0.06 * iw, m, r * 0.9))
        return pen.path(_rrect(L, m, R_, B, r))
    if ch == "A":
        top = (0.16 if p["flatA"] else 0.0) * iw
        ya = T + 0.66 * ih
        pen.line((L, B), (cx - top, T), (cx + top, T), (R_, B))
        return pen.line((L + 0.18 * iw, ya), (R_ - 0.18 * iw, ya))
    if ch in "BPR":
        yb = m if ch == "B" else T + 0.55 * ih
        rb = min(r, (yb - T) / 2)
        pen.path([(L, B), (L, T)] + _arc(R_ - 0.06 * iw - rb, T + rb, rb, -90, 0) + _arc(R_ - 0.06 * iw - rb, yb - rb, rb, 0, 90)
                 + [(L, yb)])
        if ch == "B":
            pen.path([(L, yb)] + _arc(R_ - r, yb + r, r, -90, 0) + _arc(R_ - r, B - r, r, 0, 90) + [(L, B)])
        if ch == "R":
            pen.line((cx, yb), (R_, B))
        return pen
    if ch in "CG":
        pen.path(_arc(R_ - r, T + r, r, 0, -90) + _arc(L + r, T + r, r, 270, 180) + _arc(L + r, B - r, r, 180, 90)
                 + _arc(R_ - r, B - r, r, 90, 0))
        if ch == "G":
            yg = T + 0.58 * ih
            pen.line((R_, B - r), (R_, yg), (cx + (0.0 if p["g_spur"] else 0.2) * iw, yg))
        return pen
    if ch in "EF":
        pen.line((R_, T), (L, T), (L, B))
        pen.line((L, m), (R_ - 0.12 * iw, m))
        if ch == "E":
            pen.line((L, B), (R_, B))
        return pen
    if ch == "H":
        return pen.line((L, T), (L, B)).line((R_, T), (R_, B)).line((L, m), (R_, m))
    if ch == "J":
        pen.path([(R_, T)] + _arc(R_ - r, B - r, r, 0, 90) + _arc(L + r, B - r, r, 90, 180) + [(L, B - r - 0.1 * ih)])
        if p["j_top"]:
            pen.line((L + 0.3 * iw, T), (R_, T))
        return pen
    if ch == "K":
        return pen.line((L, T), (L, B)).line((R_, T), (L, T + 0.62 * ih)).line((L + 0.3 * iw, T + 0.45 * ih), (R_, B))
    if ch == "L":
        return pen.line((L, T), (L, B), (R_, B))
    if ch == "M":
        return pen.line((L, B), (L, T), (cx, T + p["m_depth"] * ih), (R_, T), (R_, B))
    if ch == "N":
        return pen.line((L, B), (L, T), (R_, B), (R_, T))
    if ch == "S":
        ra, rb = min(r, (m - T) / 2), min(r, (B - m) / 2)
        return pen.path(_arc(R_ - ra, T + ra, ra, 0, -90) + _arc(L + ra, T + ra, ra, 270, 180)
                        + _arc(L + ra, m - ra, ra, 180, 90) + _arc(R_ - rb, m + rb, rb, -90, 0)
                        + _arc(R_ - rb, B - rb, rb, 0, 90) + _arc(L + rb, B - rb, rb, 90, 180))
    if ch == "T":
        return pen.line((L, T), (R_, T)).line((cx, T), (cx, B))
    if ch == "U":
        return pen.path([(L, T)] + _arc(L + r, B - r, r, 180, 90) + _arc(R_ - r, B - r, r, 90, 0) + [(R_, T)])
    if ch == "V":
        return pen.line((L, T), (cx, B), (R_, T))
    if ch == "W":
        return pen.line((L, T), (L + 0.22 * iw, B), (cx, T + p["w_peak"] * ih), (R_ - 0.22 * iw, B), (R_, T))
    if ch == "X":
        return pen.line((L, T), (R_, B)).line((R_, T), (L, B))
    if ch == "Y":
        return pen.line((L, T), (cx, T + 0.5 * ih), (R_, T)).line((cx, T + 0.5 * ih), (cx, B))
    if ch == "Z":
        return pen.line((L, T), (R_, T), (L, B), (R_, B))
    raise KeyError(ch)


_WIDE = {"M": 1.2, "W": 1.3, "O": 1.05, "Q": 1.05}


@lru_cache(maxsize=4096)
def stroke_glyph(ch: str, seed: int) -> np.ndarray:
    """Ink mask (float32 0..1, cropped to its ink) of `ch` in the typeface `seed`."""
    p = font_params(seed)
    h = GLYPH_H
    w = h * p["aspect"] * _WIDE.get(ch, 1.0)
    pad = 8
    canvas = np.zeros((h + 2 * pad, int(w) + 2 * pad), np.uint8)
    thick = max(2, int(round(p["stroke"] * h)))
    for path in _skeleton(ch, p, w, h).paths:
        pts = (np.array(path, np.float32) + pad) * 16  # 4 fractional bits for smooth curves
        cv2.polylines(canvas, [pts.astype(np.int32)], False, 255, thick, cv2.LINE_AA, shift=4)
    ys, xs = np.nonzero(canvas > 40)
    return canvas[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(np.float32) / 255.0
