"""Scoring reads against OpenALPR-benchmark-style ground truth (`image x y w h PLATE` per .txt).

The rules, written once so `alpr-unit eval`, the tests and the docs agree:
- text is compared after normalising to A-Z0-9 (case, spaces, dashes ignored);
- an image is correct when any read in it equals a ground-truth plate;
- an image is detected when any predicted box overlaps a true box with IoU >= 0.3;
- a false read is a read whose text equals no ground-truth plate of its image;
- time per image covers decoding the file, detection and OCR.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firmware.consensus import iou  # noqa: F401  (re-exported: scoring uses the tracker's overlap)
from firmware.hotlist.match import normalise_plate as normalise

Box = tuple[int, int, int, int]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass(frozen=True)
class Truth:
    image: Path
    plates: tuple[tuple[Box, str], ...]


def parse_truth_line(line: str) -> tuple[str, Box, str] | None:
    """`image x y w h PLATE` (tabs or spaces) -> (image, box, plate); None for blank/comment lines."""
    parts = line.strip().split()
    if not parts or parts[0].startswith("#"):
        return None
    if len(parts) < 6:
        raise ValueError(f"expected 'image x y w h PLATE', got {line.strip()!r}")
    x, y, w, h = (int(float(v)) for v in parts[1:5])
    return parts[0], (x, y, w, h), normalise("".join(parts[5:]))


def load_dataset(folder: Path) -> list[Truth]:
    """Every .txt in `folder` (sorted); the image it names must exist beside it."""
    folder = Path(folder)
    by_image: dict[Path, list[tuple[Box, str]]] = {}
    for txt in sorted(folder.glob("*.txt")):
        for line in txt.read_text(encoding="utf-8", errors="replace").splitlines():
            parsed = parse_truth_line(line)
            if parsed is None:
                continue
            name, box, plate = parsed
            image = folder / name
            if not image.exists():
                image = txt.with_suffix(Path(name).suffix or ".jpg")
            by_image.setdefault(image, []).append((box, plate))
    return [Truth(image, tuple(plates)) for image, plates in by_image.items()]


def score_image(reads: list[tuple[str, Box]], truths: tuple[tuple[Box, str], ...] | list,
                iou_min: float = 0.3) -> dict:
    """{'correct': bool, 'detected': bool, 'false_reads': int} for one image."""
    true_texts = {normalise(t) for _, t in truths}
    texts = [normalise(r) for r, _ in reads]
    correct = any(t in true_texts for t in texts)
    detected = any(iou(box, tbox) >= iou_min for _, box in reads for tbox, _ in truths)
    false_reads = sum(1 for t in texts if t not in true_texts)
    return {"correct": correct, "detected": detected, "false_reads": false_reads}


def summarise(scores: list[dict], ms: list[float]) -> dict:
    n = len(scores)
    correct = sum(s["correct"] for s in scores)
    detected = sum(s["detected"] for s in scores)
    return {
        "images": n,
        "correct": correct,
        "accuracy": round(correct / n, 4) if n else 0.0,
        "detected": detected,
        "detect_rate": round(detected / n, 4) if n else 0.0,
        "false_reads_per_image": round(sum(s["false_reads"] for s in scores) / n, 4) if n else 0.0,
        "ms_median": round(float(np.median(ms)), 2) if ms else 0.0,
        "ms_p95": round(float(np.percentile(ms, 95)), 2) if ms else 0.0,
    }


def evaluate(recognizer, dataset: list[Truth], on_image=None, true_boxes: bool = False) -> dict:
    """Run `recognizer` over `dataset`; `on_image(truth, reads, score, ms)` sees each image.

    `true_boxes` reads each ground-truth box with the OCR alone (no detector, no confidence floor), so
    the end-to-end loss splits into what the OCR gets wrong and what the detector's boxes cost.
    """
    import cv2

    from firmware.recognition.ocr import box_quad

    scores, ms = [], []
    for truth in dataset:
        t0 = time.perf_counter()
        image = cv2.imread(str(truth.image), cv2.IMREAD_COLOR)
        if image is None:
            reads = []
        elif true_boxes:
            reads = [(recognizer.read_crop(image, box_quad(box))[0], box) for box, _ in truth.plates]
        else:
            reads = [(c.text, c.box) for c in recognizer.recognize(image)]
        elapsed = (time.perf_counter() - t0) * 1000
        score = score_image(reads, truth.plates)
        scores.append(score)
        ms.append(elapsed)
        if on_image:
            on_image(truth, reads, score, elapsed)
    return summarise(scores, ms)
