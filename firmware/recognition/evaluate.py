"""Scoring reads against OpenALPR-benchmark-style ground truth (`image x y w h PLATE` per .txt).

The rules, written once so `alpr-unit eval`, the tests and the docs agree:
- text is compared after normalising to A-Z0-9 (case, spaces, dashes ignored);
- an image is correct when any read in it equals a ground-truth plate;
- an image is detected when any predicted box overlaps a true box with IoU >= 0.3;
- a false read is a read whose text equals no ground-truth plate of its image;
- time per image covers decoding the file, detection and OCR.
State (with a label file, `load_states`): a label is the state the plate shows, or `unknown` where it is
not legible. An image's state is right when a read in it carries the label; a read's state is wrong when
it differs from a legible label; a state on a plate labelled `unknown` cannot be checked and is counted
apart (`unverified`). The state is read once per read, outside the timed part (the unit reads it once
per vehicle, not per frame).
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


def load_states(path: Path) -> dict[str, str]:
    """`image<TAB>plate<TAB>state[<TAB>how]` lines (header line `image...` and # comments skipped) ->
    {image file name: USPS code or 'unknown'}. A malformed line is a ValueError naming it."""
    out: dict[str, str] = {}
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#") or line.startswith("image\t"):
            continue
        parts = line.split("\t")
        state = parts[2].strip() if len(parts) >= 3 else ""
        if not (state == "unknown" or (len(state) == 2 and state.isalpha() and state.isupper())):
            raise ValueError(f"{path}:{n}: expected 'image<TAB>plate<TAB>STATE', got {line.strip()!r}")
        out[parts[0].strip()] = state
    return out


def score_states(rows: list[tuple[str, list[str | None]]]) -> dict:
    """rows: (label, the state each read of the image carries) -> legible, right, wrong, unverified, per read."""
    reads = sum(len(states) for _, states in rows)
    legible = [(label, states) for label, states in rows if label != "unknown"]
    right = sum(1 for label, states in legible if label in states)
    wrong = sum(1 for label, states in legible for s in states if s is not None and s != label)
    unverified = sum(1 for label, states in rows if label == "unknown" for s in states if s is not None)
    return {"legible": len(legible), "right": right, "right_rate": round(right / len(legible), 4) if legible else 0.0,
            "reads": reads, "with_state": sum(1 for _, states in rows for s in states if s is not None),
            "wrong": wrong, "wrong_per_read": round(wrong / reads, 4) if reads else 0.0,
            "unverified": unverified}


def evaluate(recognizer, dataset: list[Truth], on_image=None, true_boxes: bool = False,
             states: dict[str, str] | None = None) -> dict:
    """Run `recognizer` over `dataset`; `on_image(truth, reads, score, ms)` sees each image.

    `true_boxes` reads each ground-truth box with the OCR alone (no detector, no confidence floor), so
    the end-to-end loss splits into what the OCR gets wrong and what the detector's boxes cost.
    """
    import cv2

    from firmware.recognition.ocr import box_quad

    scores, ms, state_rows = [], [], []
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
        if states is not None:
            read_states = [_state_of(recognizer.read_state(image, box)) for _, box in reads] if image is not None else []
            state_rows.append((states.get(truth.image.name, "unknown"), read_states))
            score = {**score, "states": read_states}
        scores.append(score)
        ms.append(elapsed)
        if on_image:
            on_image(truth, reads, score, elapsed)
    summary = summarise(scores, ms)
    if states is not None:
        summary["state"] = score_states(state_rows)
    return summary


def _state_of(decision) -> str | None:
    return decision.state if decision is not None else None
