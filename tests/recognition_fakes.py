"""Stand-ins for one model each, so a Recognizer test can count the crops it reads and script its answers.

Reusable by any test module: `from tests.recognition_fakes import GivenDetections, ScriptedOCR`.
"""

from __future__ import annotations

from firmware.recognition.ocr import OcrResult


class GivenDetections:
    """Stands in for the detector only: returns fixed detections so the crops read can be counted."""

    def __init__(self, detections=()):
        self.detections = list(detections)

    def detect(self, image):
        return list(self.detections)


class ScriptedOCR:
    """Stands in for the OCR only: answers reads from a script, and records each crop it was given."""

    input_h, input_w, alphabet = 48, 128, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def __init__(self, answers):
        self.answers = list(answers)
        self.crops = []

    def read(self, crop):
        self.crops.append(crop.copy())
        text, conf = self.answers.pop(0)
        per_char = tuple([conf ** (1 / len(text))] * len(text)) if text else ()
        return OcrResult(text, per_char, conf, None)
