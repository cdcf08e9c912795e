"""Detector metrics on a folder in OpenALPR benchmark format (`image x y w h PLATE` per .txt).

    .venv/bin/python models/detector/evaluate.py --dataset ../shared/data/plates/openalpr-us-dev \
        --model models/plate_detector_int8.tflite [--compare models/plate_detector_float32.tflite]

detect_rate: share of images where a detection's box has IoU >= 0.3 with the true box (as `alpr-unit
eval` scores it); top1_rate: the same for the best-scored detection only; extra_per_image: detections
overlapping no true box; ms: detect() wall time (letterbox + model + decoding), one thread.
With --compare: float-vs-int8 agreement = share of images where both models' best boxes overlap
(IoU >= 0.5), and the mean IoU between them. Measures only: never tune on these photos.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from firmware.consensus import iou as _iou  # noqa: E402
from firmware.recognition.detector import PlateDetector  # noqa: E402


def load(dataset: Path):
    for txt in sorted(dataset.glob("*.txt")):
        parts = txt.read_text().split()
        img = cv2.imread(str(dataset / parts[0]))
        yield parts[0], img, tuple(int(v) for v in parts[1:5])


def run(model: Path, dataset: Path, threads: int, min_score: float | None):
    det = PlateDetector(model, {}, threads=threads, min_score=min_score)
    rows = []
    for name, img, gt in load(dataset):
        det.detect(img)  # warm
        t = time.perf_counter()
        dets = det.detect(img)
        ms = (time.perf_counter() - t) * 1000
        ious = [_iou(d.box, gt) for d in dets]
        rows.append({"name": name, "ms": ms, "hit": any(i >= 0.3 for i in ious),
                     "top1": bool(ious) and ious[0] >= 0.3, "extra": sum(i < 0.3 for i in ious),
                     "best": dets[0].box if dets else None})
    return rows


def summary(rows):
    ms = sorted(r["ms"] for r in rows)
    return {"images": len(rows), "detect_rate": round(sum(r["hit"] for r in rows) / len(rows), 4),
            "top1_rate": round(sum(r["top1"] for r in rows) / len(rows), 4),
            "extra_per_image": round(sum(r["extra"] for r in rows) / len(rows), 3),
            "ms_median": round(statistics.median(ms), 2), "ms_p95": round(ms[int(0.95 * (len(ms) - 1))], 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--compare", type=Path)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-score", type=float)
    ap.add_argument("--misses", action="store_true", help="list images without a hit")
    args = ap.parse_args()
    rows = run(args.model, args.dataset, args.threads, args.min_score)
    out = {"model": args.model.name, **summary(rows)}
    if args.compare:
        other = run(args.compare, args.dataset, args.threads, args.min_score)
        out["compare"] = {"model": args.compare.name, **summary(other)}
        pairs = [(a["best"], b["best"]) for a, b in zip(rows, other)]
        both = [(a, b) for a, b in pairs if a and b]
        out["agreement"] = round(sum(_iou(a, b) >= 0.5 for a, b in both) / max(1, len(pairs)), 4)
        out["mean_iou_between"] = round(statistics.mean(_iou(a, b) for a, b in both), 4) if both else None
    if args.misses:
        out["misses"] = [r["name"] for r in rows if not r["hit"]]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
