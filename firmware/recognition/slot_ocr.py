"""The second plate reader: fast-plate-ocr's CCT-XS (MIT), a fixed-slot OCR trained on real plates.

Why a second reader: our CTC OCR (ocr.py) learnt plates only from our renderer, and its remaining
errors are real-typeface shapes (W/M, 9/2, E/F, Z-like 2). CCT-XS was trained by its author on ~220k
real plates of 65+ countries: it errs on different plates, so asking it where ours is unsure reads
more of them (combine.py decides per character). It is small (2 MB float32, ~1.5 ms an invoke on one
x86 thread) and takes the whole crop at once: no CTC, 9 character slots, each a probability over
0-9A-Z and `_` (an empty slot; the text is the slots that are not empty, left to right).

Interface (models/plate_ocr_cct.md): uint8 RGB NHWC 64x128, the plate stretched to fill it; the
graph normalises inside.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from firmware.recognition.runtime import make_interpreter

DEFAULT_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class SlotRead:
    text: str
    slot_probs: np.ndarray  # (slots, len(alphabet) + 1) probabilities; the last class is the empty slot


def decode_slots(slot_probs: np.ndarray, alphabet: str = DEFAULT_ALPHABET) -> str:
    """The characters of the slots whose best class is not the empty one, in order."""
    best = np.asarray(slot_probs).argmax(axis=1)
    return "".join(alphabet[k] for k in best if k < len(alphabet))


class SlotOCR:
    """One LiteRT interpreter running the slot reader on plate crops. Not thread-safe."""

    def __init__(self, model_path: Path, entry: dict, threads: int = 1, use_xnnpack: bool = True):
        self.entry = entry
        self.alphabet = entry.get("alphabet", DEFAULT_ALPHABET)
        self.interpreter = make_interpreter(model_path, threads, use_xnnpack)
        self._in = self.interpreter.get_input_details()[0]
        self._out = self.interpreter.get_output_details()[0]
        shape = self._in["shape"]  # NHWC
        self.input_h, self.input_w = int(shape[1]), int(shape[2])
        self._rgb = entry.get("color", "rgb") == "rgb"
        if self._out["shape"][-1] != len(self.alphabet) + 1:
            raise ValueError(f"slot reader output {list(self._out['shape'])} does not fit alphabet + empty slot")

    def prepare(self, crop_bgr: np.ndarray) -> np.ndarray:
        img = crop_bgr
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        if img.shape[0] != self.input_h or img.shape[1] != self.input_w:
            interp = cv2.INTER_AREA if img.shape[1] > self.input_w else cv2.INTER_LINEAR
            img = cv2.resize(img, (self.input_w, self.input_h), interpolation=interp)
        if self._rgb:
            img = img[..., ::-1]
        return np.ascontiguousarray(img, dtype=np.uint8)[None]

    def read(self, crop_bgr: np.ndarray) -> SlotRead:
        self.interpreter.set_tensor(self._in["index"], self.prepare(crop_bgr))
        self.interpreter.invoke()
        probs = np.asarray(self.interpreter.get_tensor(self._out["index"])[0], np.float32)
        return SlotRead(decode_slots(probs, self.alphabet), probs)
