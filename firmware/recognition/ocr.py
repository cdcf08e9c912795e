"""Plate OCR: a rectified plate crop in, characters with per-character confidences out.

The model (models/plate_ocr.md) is a CTC line recogniser: it emits, for each of T columns of the
crop, a probability over blank + the alphabet. Greedy CTC decoding (best class per column, merge
repeats, drop blanks) is exact enough for plates and cheap; each character's confidence is the best
probability it reached in its run of columns, and the text confidence is their product, so one doubtful
character makes the whole read doubtful — which is what the hotlist matcher needs to know.
We keep each character's full probability row too: the format hints re-rank from those, never from
the text alone. A row leaves the blank out (it says which character, if one is there), so each
character also keeps its presence, 1 - p(blank) at the same column (whether one is there at all): the
confidences the unit keeps are the row's times the presence (pipeline.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from firmware.recognition.runtime import dequantize_output, make_interpreter, quantize_input

DEFAULT_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class OcrResult:
    text: str
    char_confidences: tuple[float, ...]
    confidence: float
    # (len(text), len(alphabet)) probabilities of each read character over the alphabet (blank removed)
    char_probs: np.ndarray | None = field(default=None, compare=False, repr=False)
    # 1 - p(blank) at each character's column: how sure the reader is that a character is there at all
    char_presence: tuple[float, ...] | None = None


def ctc_greedy(probs: np.ndarray, alphabet: str, blank: int = 0) -> OcrResult:
    """Greedy CTC decode of (T, 1 + len(alphabet)) column probabilities; class `blank` is the blank."""
    probs = np.asarray(probs, dtype=np.float32)
    best = probs.argmax(axis=1)
    chars: list[str] = []
    confs: list[float] = []
    rows: list[np.ndarray] = []
    presence: list[float] = []
    prev = blank
    for t, k in enumerate(best):
        if k != blank and k != prev:
            chars.append(alphabet[k - 1 if k > blank else k])
            confs.append(float(probs[t, k]))
            rows.append(probs[t])
            presence.append(float(1.0 - probs[t, blank]))
        elif k != blank and k == prev:
            if probs[t, k] > confs[-1]:
                confs[-1] = float(probs[t, k])
                rows[-1] = probs[t]
                presence[-1] = float(1.0 - probs[t, blank])
        prev = k
    if rows:
        mat = np.delete(np.stack(rows), blank, axis=1)
        mat = mat / np.maximum(mat.sum(axis=1, keepdims=True), 1e-9)
    else:
        mat = np.zeros((0, len(alphabet)), np.float32)
    confidence = float(np.prod(confs)) if confs else 0.0
    return OcrResult("".join(chars), tuple(confs), confidence, mat, tuple(presence))


def grow_quad(quad: np.ndarray, pad_x: float, pad_y: float) -> np.ndarray:
    """Grow a TL, TR, BR, BL quad along its own axes: pad_x of its width at each end, pad_y of its height."""
    tl, tr, br, bl = np.asarray(quad, dtype=np.float32).reshape(4, 2)
    top, bottom, left, right = tr - tl, br - bl, bl - tl, br - tr
    return np.array([tl - pad_x * top - pad_y * left, tr + pad_x * top - pad_y * right,
                     br + pad_x * bottom + pad_y * right, bl - pad_x * bottom + pad_y * left], np.float32)


def rectify(image_bgr: np.ndarray, quad: np.ndarray, out_h: int = 48, out_w: int = 160,
            pad: float | tuple[float, float] = 0.0) -> np.ndarray:
    """Warp the plate quad (TL, TR, BR, BL image points) to an upright out_w x out_h crop.

    `pad` (or (pad_x, pad_y)) grows the quad by that fraction of its size on each side, to forgive
    a detector that clips the first or last character.
    """
    q = np.asarray(quad, dtype=np.float32).reshape(4, 2)
    pad_x, pad_y = (pad, pad) if np.isscalar(pad) else pad
    if pad_x or pad_y:
        q = grow_quad(q, pad_x, pad_y)
    dst = np.array([[0, 0], [out_w - 1, 0], [out_w - 1, out_h - 1], [0, out_h - 1]], np.float32)
    m = cv2.getPerspectiveTransform(q, dst)
    return cv2.warpPerspective(image_bgr, m, (out_w, out_h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)


def box_quad(box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = box
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)


class PlateOCR:
    """One LiteRT interpreter reading plate crops. Not thread-safe: one per worker thread."""

    def __init__(self, model_path: Path, entry: dict, threads: int = 1, use_xnnpack: bool = True):
        self.entry = entry
        self.alphabet = entry.get("alphabet", DEFAULT_ALPHABET)
        self.interpreter = make_interpreter(model_path, threads, use_xnnpack)
        self._in = self.interpreter.get_input_details()[0]
        self._out = self.interpreter.get_output_details()[0]
        shape = self._in["shape"]  # NHWC
        self.input_h, self.input_w = int(shape[1]), int(shape[2])
        self.channels = int(shape[3])
        norm = entry.get("normalize", "pm1")
        self._scale, self._offset = (1 / 127.5, -1.0) if norm == "pm1" else (1 / 255.0, 0.0)
        self._rgb = entry.get("color", "bgr") == "rgb"

    def prepare(self, crop_bgr: np.ndarray) -> np.ndarray:
        """Any-size BGR (or gray) crop -> the model's float input, (1, H, W, C)."""
        img = crop_bgr
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        if img.shape[0] != self.input_h or img.shape[1] != self.input_w:
            interp = cv2.INTER_AREA if img.shape[1] > self.input_w else cv2.INTER_LINEAR
            img = cv2.resize(img, (self.input_w, self.input_h), interpolation=interp)
        if self._rgb:
            img = img[..., ::-1]
        if self.channels == 1:
            img = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_BGR2GRAY)[..., None]
        x = img.astype(np.float32) * self._scale + self._offset
        return x[None]

    def probabilities(self, crop_bgr: np.ndarray) -> np.ndarray:
        """(T, 1 + len(alphabet)) column probabilities for one crop."""
        self.interpreter.set_tensor(self._in["index"], quantize_input(self.prepare(crop_bgr), self._in))
        self.interpreter.invoke()
        return dequantize_output(self.interpreter.get_tensor(self._out["index"]), self._out)[0]

    def read(self, crop_bgr: np.ndarray) -> OcrResult:
        return ctc_greedy(self.probabilities(crop_bgr), self.alphabet)
