"""Full-frame plate detection with PlateNet (.tflite): where the plates are, as boxes and quads.

Why this design: the whole frame is letterboxed once to the model's input (544x960, 16:9 like the
unit's cameras; top-left, zero padding — as in training), so cost does not grow with camera resolution. The model
marks plate interiors on a stride-4 grid and every marked cell also predicts the four plate corners;
averaging those corner votes over a connected blob gives a quad that follows tilt and perspective
(up to ~30 degrees), which the OCR's rectification needs. Post-processing is plain numpy/OpenCV
(`decode_maps`, a pure function) so it is tested without a model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from firmware.consensus import iou
from firmware.recognition.runtime import dequantize_output, make_interpreter

log = logging.getLogger(__name__)

STRIDE = 4
GEO_SCALE = 32.0


@dataclass(frozen=True)
class Detection:
    box: tuple[int, int, int, int]      # x, y, w, h in full-image pixels (axis-aligned bound of the plate)
    score: float
    quad: np.ndarray | None = None      # (4, 2) float32 corners TL, TR, BR, BL for tilted plates, image pixels


def letterbox_scale(image_hw: tuple[int, int], hw: tuple[int, int], max_scale: float = 0.0) -> float:
    """The scale `letterbox` puts an image of `image_hw` on an input of `hw` at (`max_scale` > 0 caps it)."""
    s = min(hw[0] / image_hw[0], hw[1] / image_hw[1])
    return min(s, max_scale) if max_scale > 0 else s


def letterbox(image: np.ndarray, hw: tuple[int, int], max_scale: float = 0.0) -> tuple[np.ndarray, float]:
    """Scale `image` to fit (h, w) keeping aspect, place it top-left on zeros; returns (canvas, scale).

    `max_scale` (> 0) caps the scale: a frame smaller than the input is then not blown up to fill it.
    """
    h, w = image.shape[:2]
    s = letterbox_scale((h, w), hw, max_scale)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    if s < 0.5:  # bilinear to twice the size, then an exact 2x2 area average: ~6x cheaper than INTER_AREA
        half = cv2.resize(image, (nw * 2, nh * 2), interpolation=cv2.INTER_LINEAR)
        scaled = cv2.resize(half, (nw, nh), interpolation=cv2.INTER_AREA)
    else:  # mild down- or upscaling: bilinear (non-integer INTER_AREA costs ~15 ms on a 1080p frame)
        scaled = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    if (nh, nw) == tuple(hw):  # the camera's own aspect (16:9): no padding, no copy
        return scaled, s
    canvas = np.zeros((hw[0], hw[1], 3), np.uint8)
    canvas[:nh, :nw] = scaled
    return canvas, s


def autolevel(canvas: np.ndarray, content_hw: tuple[int, int]) -> np.ndarray:
    """Stretch the content's 1st..99th brightness percentiles to 0..255 (one LUT for all channels).

    Dusk, shade and IR frames leave plates as grey text on grey; the model learnt on full-contrast
    renders. One global stretch (colours kept, padding stays 0) costs well under a millisecond.
    """
    h, w = content_hw
    sample = canvas[:h:4, :w:4]
    cdf = np.cumsum(np.bincount(sample.ravel(), minlength=256))
    lo, hi = np.searchsorted(cdf, (0.01 * cdf[-1], 0.99 * cdf[-1]))
    if hi - lo < 8:  # flat frame: nothing to stretch
        return canvas
    lut = np.clip((np.arange(256, dtype=np.float32) - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
    out = cv2.LUT(canvas, lut)
    out[h:] = 0
    out[:, w:] = 0
    return out


def decode_maps(score: np.ndarray, corners: np.ndarray, scale: float, image_hw: tuple[int, int],
                threshold: float = 0.3, min_score: float = 0.4, max_detections: int = 16,
                min_width: float = 16.0) -> list[Detection]:
    """Score map (H, W) in 0..1 and corner map (H, W, 8) -> detections in image pixels.

    A detection is one 8-connected blob of cells above `threshold`; its score is the blob's mean
    probability, its quad the probability-weighted mean of the blob's corner votes. Quads narrower than
    `min_width` image pixels are dropped: too small for any OCR to read (the unit's floor is ~20 px).
    """
    mask = (score > threshold).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return []
    H, W = image_hw
    out: list[Detection] = []
    for k in range(1, n):
        bx, by, bw, bh = stats[k, :4]
        ys, xs = np.nonzero(labels[by:by + bh, bx:bx + bw] == k)
        ys, xs = ys + by, xs + bx
        p = score[ys, xs]
        s = float(p.mean())
        if s < min_score:
            continue
        centres = np.stack([xs * STRIDE + (STRIDE - 1) / 2, ys * STRIDE + (STRIDE - 1) / 2], axis=1)  # (n, 2)
        votes = corners[ys, xs].reshape(-1, 4, 2) * GEO_SCALE + centres[:, None, :]
        quad = (votes * p[:, None, None]).sum(0) / p.sum()
        quad = (quad / scale).astype(np.float32)
        if 0.5 * (np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])) < min_width:
            continue
        x0, y0 = np.floor(quad.min(0))
        x1, y1 = np.ceil(quad.max(0))
        x0, y0 = max(0, int(x0)), max(0, int(y0))
        x1, y1 = min(W, int(x1)), min(H, int(y1))
        if x1 - x0 < 3 or y1 - y0 < 2:
            continue
        out.append(Detection((x0, y0, x1 - x0, y1 - y0), s, quad))
    out.sort(key=lambda d: -d.score)
    kept: list[Detection] = []
    for d in out:  # blobs split by noise vote for the same plate: keep the best
        if all(iou(d.box, k.box) < 0.5 for k in kept):
            kept.append(d)
        if len(kept) >= max_detections:
            break
    return kept


class PlateDetector:
    """Runs the detector model on BGR images; thread-confined (one interpreter, not re-entrant)."""

    def __init__(self, model_path: Path, entry: dict, threads: int = 1, use_xnnpack: bool = True,
                 min_score: float | None = None, max_upscale: float = 0.0):
        self.entry = dict(entry)
        self.max_upscale = float(max_upscale)  # 0: frames are scaled to fill the input, small ones blown up
        self.interpreter = make_interpreter(Path(model_path), threads=threads, use_xnnpack=use_xnnpack)
        inp = self.interpreter.get_input_details()[0]
        self._in = inp
        self.input_hw = (int(inp["shape"][1]), int(inp["shape"][2]))
        outs = self.interpreter.get_output_details()
        by_channels = {int(o["shape"][-1]): o for o in outs}
        if set(by_channels) != {1, 8}:
            raise ValueError(f"{model_path}: expected outputs with 1 and 8 channels, got {sorted(by_channels)}")
        self._score, self._corners = by_channels[1], by_channels[8]
        self.threshold = float(self.entry.get("threshold", 0.3))
        self.min_score = float(min_score if min_score is not None else self.entry.get("min_score", 0.4))
        self.max_detections = int(self.entry.get("max_detections", 16))
        self.autolevel = bool(self.entry.get("autolevel", True))
        self.min_width = float(self.entry.get("min_width", 16.0))
        scale, zero = inp["quantization"]
        # uint8 pixels map to int8 by flipping the top bit when the input is quantised as (1.0, -128)
        self._xor_input = inp["dtype"] == np.int8 and abs(scale - 1.0) < 1e-6 and zero == -128

    def _feed(self, canvas: np.ndarray) -> None:
        """Put the uint8 canvas into the interpreter's input in the model's own type."""
        it, index, dtype = self.interpreter, self._in["index"], self._in["dtype"]
        if dtype == np.float32:  # convert straight into the interpreter's input: no 7 MB copy
            buf = it.tensor(index)
            np.copyto(buf()[0], canvas, casting="unsafe")
            del buf  # the interpreter refuses to run while a view of its memory is held
            return
        it.set_tensor(index, self._quantise(canvas))

    def _quantise(self, canvas: np.ndarray) -> np.ndarray:
        dtype = self._in["dtype"]
        if self._xor_input:
            return (canvas ^ np.uint8(0x80)).view(np.int8)[None]
        if dtype == np.uint8 and tuple(self._in["quantization"]) == (1.0, 0):
            return canvas[None]
        scale, zero = self._in["quantization"]
        info = np.iinfo(dtype)
        return np.clip(np.round(canvas / scale + zero), info.min, info.max).astype(dtype)[None]

    def maps(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """(score (H/4, W/4), corners (H/4, W/4, 8), letterbox scale) for one image."""
        if image_bgr is None or image_bgr.ndim not in (2, 3) or image_bgr.size == 0:
            raise ValueError("detect() needs a non-empty HxW or HxWx3 uint8 image")
        if image_bgr.ndim == 2:
            image_bgr = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR)
        elif image_bgr.shape[2] == 4:
            image_bgr = cv2.cvtColor(image_bgr, cv2.COLOR_BGRA2BGR)
        canvas, scale = letterbox(image_bgr, self.input_hw, self.max_upscale)
        if self.autolevel:
            h, w = image_bgr.shape[:2]
            canvas = autolevel(canvas, (min(self.input_hw[0], round(h * scale)), min(self.input_hw[1], round(w * scale))))
        self._feed(canvas)
        it = self.interpreter
        it.invoke()
        score = dequantize_output(it.get_tensor(self._score["index"]), self._score)[0, :, :, 0]
        corners = dequantize_output(it.get_tensor(self._corners["index"]), self._corners)[0]
        return score, corners, scale

    def detect(self, image_bgr: np.ndarray) -> list[Detection]:
        """Plates in the image, best first (at most `max_detections`)."""
        score, corners, scale = self.maps(image_bgr)
        return decode_maps(score, corners, scale, image_bgr.shape[:2], self.threshold, self.min_score,
                           self.max_detections, self.min_width)
