"""Second, closer look of the detector at a plate it is unsure of, or at one too close for it.

Why: the detector sees the whole frame shrunk to 544x960, so a far plate 40-60 px wide in a 1080p
frame is 20-30 px on its input. There it finds the plate but marks only its middle: the corner votes
come out ~0.6 of the plate's size, and the OCR then reads a clipped crop ("ZRUL" for FZRULZ) with full
confidence, so no later check can tell. Such detections are the ones scored low (their blob is faint).
Cutting a window around the weak detection and running the same network on it at a scale where the
plate is ~128 px wide (the detector's sweet spot) gives a quad that spans the whole plate.

A weak detection is sometimes a fragment of a larger plate (a dark plate whose middle alone stood out):
when the window finds nothing, a window twice as wide is tried (`zoom_plan`).

The same look, zoomed out, serves plates too close for the detector: it learnt plates up to ~220 px wide on
its 544x960 input, and on larger ones marks only the middle (rendered plates 480-700 px wide in a 1080p
frame: the quad is 0.59 of the plate's width, and 21 of 59 were read wrong). A detection wider than
`zoom_out_above` on the detector's input is looked at again in a window where it is `zoom_out_plate_width`
wide (docs/perf/recognition.md, session 9).

The window has the zoom model's own aspect, so the letterbox fills it without padding, and it is kept
inside the frame by shifting rather than clipping (a plate at the edge keeps its scale). Everything
here is plain geometry over boxes except `refine`, which runs the zoom model once.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from firmware.recognition.detector import Detection


def zoom_window(box: tuple[int, int, int, int], image_hw: tuple[int, int], canvas_hw: tuple[int, int],
                plate_width: float) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the frame region that, letterboxed to `canvas_hw`, shows `box` `plate_width` wide.

    Centred on the box, with the canvas's aspect, shifted (not clipped) to stay inside the frame; only a
    frame smaller than the window clips it.
    """
    x, y, w, h = box
    H, W = image_hw
    ch, cw = canvas_hw
    win_w = max(1.0, w) * cw / float(plate_width)
    win_h = win_w * ch / cw
    win_w, win_h = min(win_w, W), min(win_h, H)
    x0 = min(max(0.0, x + w / 2 - win_w / 2), W - win_w)
    y0 = min(max(0.0, y + h / 2 - win_h / 2), H - win_h)
    return int(round(x0)), int(round(y0)), int(round(x0 + win_w)), int(round(y0 + win_h))


def pick_refined(candidates: list[Detection], box: tuple[int, int, int, int]) -> Detection | None:
    """The zoomed detection that is the same plate: its quad's centre inside the original box; best score."""
    x, y, w, h = box
    same = []
    for d in candidates:
        cx, cy = (d.quad.mean(0) if d.quad is not None else (d.box[0] + d.box[2] / 2, d.box[1] + d.box[3] / 2))
        if x <= cx <= x + w and y <= cy <= y + h:
            same.append(d)
    return max(same, key=lambda d: d.score, default=None)


def shift_detection(det: Detection, dx: int, dy: int, image_hw: tuple[int, int]) -> Detection:
    """A detection found in a window, moved to frame coordinates (box clipped to the frame)."""
    H, W = image_hw
    x, y, w, h = det.box
    x0, y0 = max(0, x + dx), max(0, y + dy)
    x1, y1 = min(W, x + dx + w), min(H, y + dy + h)
    quad = None if det.quad is None else (det.quad + np.array([dx, dy], np.float32)).astype(np.float32)
    return replace(det, box=(x0, y0, max(1, x1 - x0), max(1, y1 - y0)), quad=quad)


def quad_width(det: Detection) -> float:
    """Mean length of the top and bottom edges of the detection's quad (its box's width without one)."""
    if det.quad is None:
        return float(det.box[2])
    q = np.asarray(det.quad, np.float32)
    return float(0.5 * (np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3])))


def zoom_plan(score: float, width_on_input: float, config) -> tuple[float, ...]:
    """Plate widths (zoom-model px) to look at a detection with, in turn, until one finds it; () for no look.

    `width_on_input`: the detection's width on the full detector's input. Weak detections get the closer
    look and, if that finds nothing, one twice as wide; plates wider than `zoom_out_above` a zoomed-out one.
    """
    if config.zoom_below > 0 and score < config.zoom_below:
        return (config.zoom_plate_width, config.zoom_plate_width / 2)
    if config.zoom_out_above > 0 and width_on_input > config.zoom_out_above:
        return (config.zoom_out_plate_width,)
    return ()


def refine(zoom_detector, image_bgr: np.ndarray, det: Detection, plate_width: float) -> Detection | None:
    """`det` found again by `zoom_detector` in a window where it is `plate_width` px wide; None if not found."""
    hw = image_bgr.shape[:2]
    x0, y0, x1, y1 = zoom_window(det.box, hw, zoom_detector.input_hw, plate_width)
    found = zoom_detector.detect(image_bgr[y0:y1, x0:x1])
    moved = [shift_detection(d, x0, y0, hw) for d in found]
    return pick_refined(moved, det.box)


def refine_first(zoom_detector, image_bgr: np.ndarray, det: Detection,
                 plate_widths: tuple[float, ...]) -> tuple[Detection | None, int]:
    """(the first of `plate_widths`' looks that finds `det` again, or None; how many looks it took)."""
    for n, width in enumerate(plate_widths, 1):
        found = refine(zoom_detector, image_bgr, det, width)
        if found is not None:
            return found, n
    return None, len(plate_widths)
