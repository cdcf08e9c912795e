"""Recognizer: full frame in, plate candidates out (detect -> rectify -> OCR -> soft hints).

This is the seam the capture daemon calls; everything model-specific stays behind it. A frame may
hold several plates; each detection is cut out along its quad when the detector gives one (tilted
plates come out upright), else along its box, with a small margin because a tight box clips the
first and last character more often than a loose one hurts.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from firmware.recognition.config import RecognitionConfig
from firmware.recognition.hints import apply_hints
from firmware.recognition.manifest import default_model_dir, load_model_entry
from firmware.recognition.ocr import PlateOCR, box_quad, rectify
from firmware.records import PlateCandidate

log = logging.getLogger(__name__)


class Recognizer:
    """Not thread-safe (LiteRT interpreters are not): one Recognizer per worker thread."""

    def __init__(self, detector, ocr: PlateOCR, config: RecognitionConfig | None = None):
        self.detector = detector
        self.ocr = ocr
        self.config = config or RecognitionConfig()
        self.last_timings_ms: dict = {"detect": 0.0, "ocr": 0.0}

    @classmethod
    def from_config(cls, config: RecognitionConfig) -> "Recognizer":
        from firmware.recognition.detector import PlateDetector

        model_dir = Path(config.model_dir) if config.model_dir else default_model_dir()
        det_path, det_entry = load_model_entry(model_dir, "detector")
        ocr_path, ocr_entry = load_model_entry(model_dir, "ocr")
        detector = PlateDetector(det_path, det_entry, threads=config.threads, use_xnnpack=config.use_xnnpack)
        ocr = PlateOCR(ocr_path, ocr_entry, threads=config.threads, use_xnnpack=config.use_xnnpack)
        log.info("recognizer ready", extra={"event": "recognizer_ready", "detector": det_entry.get("version"),
                                            "ocr": ocr_entry.get("version"), "threads": config.threads})
        return cls(detector, ocr, config)

    def warm_up(self) -> None:
        """Run both models once on blank input: XNNPACK packs weights on the first call (~100 ms)."""
        self.detector.detect(np.zeros((720, 1280, 3), np.uint8))
        self.ocr.read(np.zeros((self.ocr.input_h, self.ocr.input_w, 3), np.uint8))

    def read_crop(self, image_bgr: np.ndarray, quad: np.ndarray) -> tuple[str, tuple[float, ...], float]:
        """OCR one plate given its quad (TL, TR, BR, BL); hints applied when switched on."""
        crop = rectify(image_bgr, quad, self.ocr.input_h, self.ocr.input_w, pad=(self.config.crop_pad_x, self.config.crop_pad_y))
        result = self.ocr.read(crop)
        text, confs = result.text, result.char_confidences
        if self.config.format_hints and result.char_probs is not None and text:
            hinted = apply_hints(text, result.char_probs, self.ocr.alphabet)
            text, confs = hinted.text, hinted.char_confidences
        confidence = float(np.prod(confs)) if confs else 0.0
        return text, confs, confidence

    def recognize(self, image_bgr: np.ndarray) -> list[PlateCandidate]:
        t0 = time.perf_counter()
        detections = self.detector.detect(image_bgr)
        t1 = time.perf_counter()
        out: list[PlateCandidate] = []
        kept = sorted((d for d in detections if d.score >= self.config.min_detector_score), key=lambda d: -d.score)
        for det in kept[: self.config.max_plates]:
            quad = det.quad if det.quad is not None else box_quad(det.box)
            text, confs, confidence = self.read_crop(image_bgr, quad)
            if not (self.config.min_chars <= len(text) <= self.config.max_chars):
                continue
            if confidence < self.config.min_confidence:
                continue
            out.append(PlateCandidate(text=text, confidence=confidence, char_confidences=tuple(confs),
                                      box=tuple(int(v) for v in det.box), state=None,
                                      detector_confidence=float(det.score)))
        t2 = time.perf_counter()
        self.last_timings_ms = {"detect": (t1 - t0) * 1000, "ocr": (t2 - t1) * 1000,
                                "plates": len(detections)}
        return out
