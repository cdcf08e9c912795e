"""Recognizer: full frame in, plate candidates out (detect -> rectify -> OCR -> soft hints).

This is the seam the capture daemon calls; everything model-specific stays behind it. A frame may
hold several plates; each detection is cut out along its quad when the detector gives one (tilted
plates come out upright), else along its box, with a small margin because a tight box clips the
first and last character more often than a loose one hurts.

Speed: the OCR costs one fixed interpreter invoke per crop (~12.5 ms on the dev VM; the model's shapes
are fixed, so crops cannot share one batched invoke) and the detector proposes ~4 boxes per image,
most of them false. So detections are read best first and, once the frame holds a confident
plate-shaped read, only those the detector is sure of are still read (`should_read`); a plate read
in the previous frame is visited last, so two plates in view take turns (`visit_order`).

A detection the detector is unsure of (far plates, mostly) is first looked at again by the same network
in a window where the plate is ~128 px wide (`zoom.refine`, ~3 ms): at full-frame scale its quad comes
out clipped, and a clipped crop reads confidently wrong. A plate too close for the detector (wider than it
learnt) is clipped too, and gets the same look zoomed out (`zoom.zoom_plan`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firmware.consensus import iou
from firmware.recognition.config import RecognitionConfig
from firmware.recognition.combine import combine_doubting, kept_presence
from firmware.recognition.hints import US_FORMATS, apply_hints
from firmware.recognition.manifest import default_model_dir, load_model_entry, read_manifest
from firmware.recognition.ocr import OcrResult, PlateOCR, box_quad, rectify
from firmware.recognition.detector import letterbox_scale
from firmware.recognition.zoom import quad_width, refine_first, zoom_plan
from firmware.records import PlateCandidate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CropRead:
    """Our OCR's read of one crop: the hinted text, and what the second reader needs to look at it too."""

    text: str
    confidences: tuple[float, ...]
    confidence: float
    raw: OcrResult | None      # before hints: the rows the combination works on
    quad: np.ndarray
    pad: tuple[float, float]


class Recognizer:
    """Not thread-safe (LiteRT interpreters are not): one Recognizer per worker thread."""

    def __init__(self, detector, ocr: PlateOCR, config: RecognitionConfig | None = None, zoom_detector=None,
                 second=None, state_reader=None):
        self.detector = detector
        self.ocr = ocr
        self.second = second  # SlotOCR (slot_ocr.py) with its manifest entry's calibration, or None
        calibration = (getattr(second, "entry", None) or {}).get("calibration", {})
        self._temperatures = (float(calibration.get("t_ocr", 1.0)), float(calibration.get("t_cct", 1.0)))
        self.zoom_detector = zoom_detector  # same network at a small input, for weak detections (zoom.py)
        self.state_reader = state_reader  # StateReader (state_reader.py): the plate's state, once per vehicle
        self.config = config or RecognitionConfig()
        self.last_timings_ms: dict = {"detect": 0.0, "ocr": 0.0}
        self._last_read_boxes: list[tuple[int, int, int, int]] = []  # kept reads of the previous frame
        self.second_asks = 0  # crops the second reader was asked about (bench: asks per image)

    @classmethod
    def from_config(cls, config: RecognitionConfig) -> "Recognizer":
        from firmware.recognition.detector import PlateDetector

        model_dir = Path(config.model_dir) if config.model_dir else default_model_dir()
        det_path, det_entry = load_model_entry(model_dir, "detector")
        ocr_path, ocr_entry = load_model_entry(model_dir, "ocr")
        detector = PlateDetector(det_path, det_entry, threads=config.threads, use_xnnpack=config.use_xnnpack,
                                 max_upscale=config.max_upscale)
        ocr = PlateOCR(ocr_path, ocr_entry, threads=config.threads, use_xnnpack=config.use_xnnpack)
        zoom = None
        if config.zoom_below > 0:
            if "detector_zoom" in read_manifest(model_dir)["models"]:  # present: its sha256 must match
                zoom_path, zoom_entry = load_model_entry(model_dir, "detector_zoom")
                # no max_upscale here: blowing the small window up is the point of the closer look
                zoom = PlateDetector(zoom_path, zoom_entry, threads=config.threads, use_xnnpack=config.use_xnnpack)
            else:
                log.warning("no detector_zoom model in the manifest: weak detections get no closer look",
                            extra={"event": "zoom_model_missing", "model_dir": str(model_dir)})
        second = None
        if config.second_reader:
            if "ocr_cct" in read_manifest(model_dir)["models"]:  # present: its sha256 must match
                from firmware.recognition.slot_ocr import SlotOCR

                cct_path, cct_entry = load_model_entry(model_dir, "ocr_cct")
                second = SlotOCR(cct_path, cct_entry, threads=config.threads, use_xnnpack=config.use_xnnpack)
            else:
                log.warning("no ocr_cct model in the manifest: plates are read by one reader",
                            extra={"event": "second_reader_missing", "model_dir": str(model_dir)})
        state_reader = build_state_reader(config, model_dir)
        log.info("recognizer ready", extra={"event": "recognizer_ready", "detector": det_entry.get("version"),
                                            "ocr": ocr_entry.get("version"), "threads": config.threads,
                                            "zoom": zoom is not None,
                                            "second_reader": second.entry.get("version") if second else None})
        return cls(detector, ocr, config, zoom, second, state_reader)

    def warm_up(self) -> None:
        """Run both models once on blank input: XNNPACK packs weights on the first call (~100 ms)."""
        self.detector.detect(np.zeros((720, 1280, 3), np.uint8))
        if self.zoom_detector is not None:
            self.zoom_detector.detect(np.zeros(self.zoom_detector.input_hw + (3,), np.uint8))
        self.ocr.read(np.zeros((self.ocr.input_h, self.ocr.input_w, 3), np.uint8))
        if self.second is not None:
            self.second.read(np.zeros((self.second.input_h, self.second.input_w, 3), np.uint8))
        if self.state_reader is not None:
            self.state_reader.warm_up()

    def read_state(self, image_bgr: np.ndarray, box: tuple[int, int, int, int]):
        """The plate's state (state.StateDecision) from the frame a read came from; None when switched off.

        Two invokes of the header-text model: the unit asks once per vehicle (capture.py), not per frame.
        """
        if self.state_reader is None:
            return None
        spot = self.config.state_spot_floor or None
        return self.state_reader.read(image_bgr, box, self.config.state_design_cue, spot).decision

    def read_crop(self, image_bgr: np.ndarray, quad: np.ndarray,
                  pad_x: float | None = None) -> tuple[str, tuple[float, ...], float]:
        """Read one plate given its quad (TL, TR, BR, BL): our OCR, the second reader where it can change
        the read, hints when switched on. Returns (text, per-character confidences, confidence)."""
        return self.second_opinion(image_bgr, self.first_read(image_bgr, quad, pad_x))

    def first_read(self, image_bgr: np.ndarray, quad: np.ndarray, pad_x: float | None = None) -> CropRead:
        """Our OCR alone on one crop, hints applied when switched on."""
        pad = (self.config.crop_pad_x if pad_x is None else pad_x, self.config.crop_pad_y)
        crop = rectify(image_bgr, quad, self.ocr.input_h, self.ocr.input_w, pad=pad)
        result = self.ocr.read(crop)
        text, confs = self._hinted(result.text, result.char_confidences, result.char_probs)
        return CropRead(text, confs, float(np.prod(confs)) if confs else 0.0, result, quad, pad)

    def second_opinion(self, image_bgr: np.ndarray, read: CropRead) -> tuple[str, tuple[float, ...], float]:
        """`read` combined with the second reader's read of the same crop, when the second can change it.

        Asked once per detection, on the crop whose read won (read_detection), so the first reader's
        crops and looks are what they were without it; the gate looks at our raw read (before hints).
        """
        raw = read.raw
        presence = raw.char_presence if raw is not None else None
        if (self.second is None or raw is None or raw.char_probs is None
                or not needs_second_reader(raw.text, raw.char_confidences, self.config.second_reader_below)):
            return with_presence(read.text, read.confidences, presence)
        other = self.second.read(rectify(image_bgr, read.quad, self.second.input_h, self.second.input_w, pad=read.pad))
        self.second_asks += 1
        both = combine_doubting(raw.char_probs, other.slot_probs, self.ocr.alphabet, *self._temperatures,
                                doubts=self.config.second_reader_doubts)
        text, confs = self._hinted(both.text, both.char_confidences, both.char_probs)
        presence = kept_presence(both, presence)
        return with_presence(text, confs, presence)

    def _hinted(self, text: str, confs: tuple[float, ...], rows) -> tuple[str, tuple[float, ...]]:
        if self.config.format_hints and rows is not None and text:
            hinted = apply_hints(text, rows, self.ocr.alphabet)
            return hinted.text, hinted.char_confidences
        return text, tuple(confs)

    def read_detection(self, image_bgr: np.ndarray, det,
                       may_look_again: bool = True) -> tuple[tuple[str, tuple[float, ...], float], int]:
        """Best read of one detection and how many crops our OCR read for it.

        The first crop follows the detector's quad. When that read is unsure, the same plate is cut
        again along its axis-aligned box and with tighter and looser margins: a quad a little off clips
        a character or takes in a bolt or frame text, and a differently cut crop usually avoids that.
        The most confident read wins (a vote over the same misreading would only repeat it).
        A read shorter than most serials is then read once more from a wide crop (`wide_look_*`),
        which replaces it only by extending it (`extends`): a box on part of the plate reads confidently.
        The winner then gets the second reader's opinion where that can change it (`second_opinion`).
        """
        quad = det.quad if det.quad is not None else box_quad(det.box)
        best = self.first_read(image_bgr, quad)
        cfg = self.config
        used = 1
        if may_look_again:
            if best.confidence < cfg.second_look_below and len(best.text) >= cfg.second_look_min_chars:
                looks = [(box_quad(det.box), None)] if det.quad is not None else []
                looks += [(quad, pad) for pad in cfg.second_look_pads]
                for q, pad in looks:
                    read = self.first_read(image_bgr, q, pad)
                    if read.confidence > best.confidence:
                        best = read
                used += len(looks)
            if cfg.second_look_min_chars <= len(best.text) <= cfg.wide_look_max_chars:
                wide = self.first_read(image_bgr, quad, cfg.wide_look_pad)
                used += 1
                if wide.confidence >= cfg.min_confidence and extends(best.text, wide.text):
                    best = wide
        return self.second_opinion(image_bgr, best), used

    def recognize(self, image_bgr: np.ndarray) -> list[PlateCandidate]:
        t0 = time.perf_counter()
        detections = self.detector.detect(image_bgr)
        t1 = time.perf_counter()
        out: list[PlateCandidate] = []
        cfg = self.config
        kept = visit_order(detections, cfg, self._last_read_boxes if cfg.early_stop else [])
        found = False  # a confident plate-shaped read in this frame already
        crops = looks = zooms = 0
        zoom_s = 0.0
        input_scale = letterbox_scale(image_bgr.shape[:2], getattr(self.detector, "input_hw", (544, 960)),
                                      getattr(self.detector, "max_upscale", 0.0))
        for det in kept[: cfg.max_plates]:
            if not should_read(det.score, found, cfg):
                continue
            widths = zoom_plan(det.score, quad_width(det) * input_scale, cfg) if self.zoom_detector is not None else ()
            if widths and zooms < cfg.zoom_max_per_frame:
                tz = time.perf_counter()
                refined, n = refine_first(self.zoom_detector, image_bgr, det, widths)
                det = refined or det
                zoom_s += time.perf_counter() - tz
                zooms += n
            (text, confs, confidence), used = self.read_detection(image_bgr, det,
                                                                  looks < cfg.second_look_max_per_frame)
            crops += used
            looks += used > 1
            if not (cfg.min_chars <= len(text) <= cfg.max_chars):
                continue
            if confidence < cfg.min_confidence:
                continue
            found = found or len(text) >= cfg.early_stop_min_chars
            out.append(PlateCandidate(text=text, confidence=confidence, char_confidences=tuple(confs),
                                      box=tuple(int(v) for v in det.box), state=None,
                                      detector_confidence=float(det.score)))
        t2 = time.perf_counter()
        self._last_read_boxes = [c.box for c in out]
        self.last_timings_ms = {"detect": (t1 - t0 + zoom_s) * 1000, "ocr": (t2 - t1 - zoom_s) * 1000,
                                "plates": len(detections), "crops": crops, "zooms": zooms}
        return out


def with_presence(text: str, confs, presence) -> tuple[str, tuple[float, ...], float]:
    """(text, each character's confidence times its presence, their product): what the unit keeps.

    The hints and the pool give how sure the reader is which character it is; the presence how sure it
    is one is there at all (ocr.py, combine.kept_presence). Without presence (a stand-in reader, an
    empty read) the confidences stand as they are.
    """
    confs = tuple(float(c) for c in confs)
    if presence is not None and len(presence) == len(confs):
        confs = tuple(c * float(p) for c, p in zip(confs, presence))
    return text, confs, float(np.prod(confs)) if confs else 0.0


def needs_second_reader(text: str, char_confidences, below: float) -> bool:
    """Whether the second reader can change a read: it is empty, fits no US serial format, or a character is unsure.

    A confident read of a common serial shape is where both readers agree almost always, so asking then
    only costs time; everything else is where the first reader's errors are.
    """
    if not text:
        return True
    if "".join("D" if c.isdigit() else "L" for c in text) not in US_FORMATS:
        return True
    return min(char_confidences) < below


def extends(short: str, wider: str) -> bool:
    """Whether a read of a wider crop only adds characters at the ends of a read of the narrow one.

    A wider crop also takes in bolts, frame text and stickers; a read that changed any character
    already read is a different read, not a completed one, so it does not replace the first.
    """
    return len(wider) > len(short) and short in wider


def visit_order(detections, config: RecognitionConfig, last_read_boxes=()) -> list:
    """Detections above the floor, best first; those over a plate read in the previous frame go last.

    With early stop, a second plate the detector is not sure of would be skipped in every frame while
    a first plate is read; sending the plate just read to the back makes two plates take turns.
    """
    kept = sorted((d for d in detections if d.score >= config.min_detector_score), key=lambda d: -d.score)
    if not last_read_boxes:
        return kept
    seen = [any(iou(tuple(d.box), b) >= 0.5 for b in last_read_boxes) for d in kept]
    return [d for d, s in zip(kept, seen) if not s] + [d for d, s in zip(kept, seen) if s]


def should_read(detector_score: float, found: bool, config: RecognitionConfig) -> bool:
    """Whether to OCR a detection (visited best first) given whether the frame already has a confident read.

    The OCR is one fixed-cost invoke per crop and most detections below the detector's surest are false,
    so once a plate is read only detections the detector is sure of (a second plate) are still read.
    """
    if detector_score < config.min_detector_score:
        return False
    if not (config.early_stop and found):
        return True
    return detector_score >= config.read_all_above


def build_state_reader(config: RecognitionConfig, model_dir: Path):
    """The state reader when `read_state` is on and the manifest has its model, else None (logged)."""
    if not config.read_state:
        return None
    if "state_text" not in read_manifest(model_dir)["models"]:  # present: its sha256 must match
        log.warning("no state_text model in the manifest: reads carry no state",
                    extra={"event": "state_model_missing", "model_dir": str(model_dir)})
        return None
    from firmware.recognition.state_reader import StateReader

    path, entry = load_model_entry(model_dir, "state_text")
    return StateReader(path, entry, threads=config.threads, use_xnnpack=config.use_xnnpack)
