"""Reads the plate's state from one frame: the bands around a read's box, a text model, the colours.

The adapter around state.py's pure decisions. It costs two invokes of the header-text model (manifest
'state_text', PP-OCRv6 small untouched, 48x320: ~9-10 ms each on the dev VM), so the unit asks it per
vehicle, never per frame: on the views of a track's largest sightings (at most consensus.state_views),
voted in track_state.read_track_state.

Geometry: the detector's box spans the whole plate (a little taller than it), so the header is its top
third and the footer its bottom quarter; the bands reach a little outside the box because a tight box
clips the header of some plates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from firmware.recognition.ocr import ctc_greedy
from firmware.recognition.runtime import dequantize_output, make_interpreter, quantize_input
from firmware.recognition.state import ColourCues, StateDecision, TextMatch, decide, design_state, match_phrases
from firmware.recognition.state_spotting import spotted_matches

Box = tuple[int, int, int, int]

# (x0, y0, x1, y1) as fractions of the box's width and height
TEXT_BANDS = {"header": (-0.05, -0.05, 1.05, 0.30), "footer": (-0.05, 0.75, 1.05, 1.05)}
# inside the plate only: the box reaches ~8 % of the plate's height above it, into the car's paint
COLOUR_BANDS = {"header": (0.20, 0.10, 0.80, 0.28), "chars": (0.10, 0.35, 0.90, 0.70),
                "footer": (0.15, 0.76, 0.85, 0.90)}
# Thresholds of the California design cue (state.design_state), chosen on rendered plates of 12 designs
# pushed through downscaling, blur, colour casts and JPEG (models/state/fit_design.py), never on photos.
INK_MIN_CONTRAST = 10.0   # L* darker than the band's background by at least this (and a third of its range)
def cut(image: np.ndarray, box: Box, frac: tuple[float, float, float, float]) -> np.ndarray:
    """The part of `image` at fractions `frac` of `box` (x, y, w, h), clipped to the image; may be empty."""
    x, y, w, h = box
    H, W = image.shape[:2]
    x0, y0 = int(round(x + frac[0] * w)), int(round(y + frac[1] * h))
    x1, y1 = int(round(x + frac[2] * w)), int(round(y + frac[3] * h))
    return image[max(0, y0):min(H, y1), max(0, x0):min(W, x1)]


def fit_line(band: np.ndarray, h: int, w: int) -> np.ndarray:
    """Resize a text band to height h keeping its aspect (at most w wide), then pad to w with mid grey,
    as PaddleOCR feeds its recogniser."""
    out = np.full((h, w, 3), 128, np.uint8)
    if band.size == 0:
        return out
    if band.ndim == 2:
        band = cv2.cvtColor(band, cv2.COLOR_GRAY2BGR)
    bw = max(1, min(w, int(round(band.shape[1] * h / band.shape[0]))))
    interp = cv2.INTER_AREA if band.shape[0] > h else cv2.INTER_CUBIC
    out[:, :bw] = cv2.resize(band, (bw, h), interpolation=interp)
    return out


def to_input(line: np.ndarray) -> np.ndarray:
    """(h, w, 3) BGR uint8 -> (1, h, w, 3) float32 in -1..1."""
    return (line.astype(np.float32) / 127.5 - 1.0)[None]


def ink_colour(band: np.ndarray) -> tuple[float, float] | None:
    """Median colour of a band's ink relative to its background, as (a*, b*) offsets in CIELAB; None without ink.

    Background: the median colour of the band's brighter half (plates are light with dark print). Ink: the
    pixels clearly darker than it. Thin coloured strokes lose most of their chroma to blur and to JPEG's
    half-resolution colour, so the ink's median offset is measured rather than a share of "red" pixels: red
    print shifts a* up, navy print b* down, black print neither.
    """
    if band.size == 0 or min(band.shape[:2]) < 2:
        return None
    lab = cv2.cvtColor(band.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab).reshape(-1, 3)
    L = lab[:, 0]
    bg = np.median(lab[L >= np.median(L)], axis=0)
    dark = np.percentile(L, 5)
    ink = L < bg[0] - max(INK_MIN_CONTRAST, (bg[0] - dark) / 3)
    if int(ink.sum()) < 4:
        return None
    off = np.median(lab[ink], axis=0) - bg  # median: a bolt or a strip of paint is not the print
    return float(off[1]), float(off[2])


def colour_cues(image: np.ndarray, box: Box) -> ColourCues:
    header = ink_colour(cut(image, box, COLOUR_BANDS["header"]))
    chars = ink_colour(cut(image, box, COLOUR_BANDS["chars"]))
    footer = ink_colour(cut(image, box, COLOUR_BANDS["footer"]))
    return ColourCues(header_a=header[0] if header else None, chars_a=chars[0] if chars else None,
                      chars_b=chars[1] if chars else None, footer_a=footer[0] if footer else None)


@dataclass(frozen=True)
class StateRead:
    decision: StateDecision
    texts: dict[str, str]          # band -> text read (diagnostics; never logged: frames carry words)
    matches: tuple[TextMatch, ...]
    cues: ColourCues


class StateReader:
    """One LiteRT interpreter for header text. Not thread-safe: one per worker thread."""

    def __init__(self, model_path: Path, entry: dict, threads: int = 1, use_xnnpack: bool = True):
        self.entry = entry
        self.alphabet = entry["alphabet"]
        self.interpreter = make_interpreter(model_path, threads, use_xnnpack)
        self._in = self.interpreter.get_input_details()[0]
        self._out = self.interpreter.get_output_details()[0]
        self.input_h, self.input_w = (int(v) for v in self._in["shape"][1:3])

    def probabilities(self, band: np.ndarray) -> np.ndarray:
        """(T, 1 + len(alphabet)) CTC column probabilities of one text band."""
        x = to_input(fit_line(band, self.input_h, self.input_w))
        self.interpreter.set_tensor(self._in["index"], quantize_input(x, self._in))
        self.interpreter.invoke()
        return dequantize_output(self.interpreter.get_tensor(self._out["index"]), self._out)[0]

    def read_text(self, band: np.ndarray) -> str:
        return ctc_greedy(self.probabilities(band), self.alphabet).text

    def read(self, image: np.ndarray, box: Box, design_cue: bool = False, spot_floor: float | None = None) -> StateRead:
        """Both text bands read; their words matched (and spotted in the columns, with `spot_floor`)."""
        texts, spotted = {}, []
        for band, frac in TEXT_BANDS.items():
            probs = self.probabilities(cut(image, box, frac))
            texts[band] = ctc_greedy(probs, self.alphabet).text
            if spot_floor is not None:
                spotted += spotted_matches(probs, self.alphabet, band, spot_floor)
        matches = tuple(m for band, text in texts.items() for m in match_phrases(text, band)) + tuple(spotted)
        cues = colour_cues(image, box)
        return StateRead(decide(list(matches), design_state(cues) if design_cue else None), texts, matches, cues)

    def warm_up(self) -> None:
        self.read_text(np.zeros((self.input_h, self.input_w, 3), np.uint8))
