"""Recognition speed on real image files: per-stage medians (decode, detect, ocr) and frames/s.

Each image is decoded from its file every pass (the unit decodes every camera frame too), then
detected and read; figures are medians over all passes. The plate's state is read once per vehicle
in the unit, so its cost is timed apart (first pass, first plate of each image), not in the frame's.
With --peer, rapidocr's own pipeline
(PP-OCR det + rec on onnxruntime, the generic-OCR baseline; a dev-only package) runs on the same
images in the same process with the same thread count, so the two figures share one machine state.
When the folder carries OpenALPR-format .txt ground truth, both get an accuracy too (for the peer:
the plate appears among its texts after normalising).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from firmware.cli import number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", required=True, type=Path, help="folder of images (jpg/png)")
    parser.add_argument("--threads", type=number(1, 8), default=1, help="interpreter threads")
    parser.add_argument("--passes", type=number(1, 10 ** 6), default=1, help="times over the folder")
    parser.add_argument("--limit", type=number(0, 10 ** 9), default=0, help="use at most this many images (0: all)")
    parser.add_argument("--no-xnnpack", action="store_true")
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--peer", action="store_true", help="also time rapidocr's pipeline (needs rapidocr)")
    parser.add_argument("--min-detector-score", type=number(0.0, 1.0, float), default=None,
                        help="override recognition.min_detector_score (speed/recall trade)")
    parser.add_argument("--no-second-reader", action="store_true",
                        help="our OCR alone (recognition.second_reader off), to price the second reader")
    parser.add_argument("--no-early-stop", action="store_true",
                        help="read every kept detection (recognition.early_stop off), the pre-early-stop behaviour")


def _truths(folder: Path) -> dict[str, set[str]]:
    from firmware.recognition.evaluate import load_dataset

    try:
        return {t.image.name: {p for _, p in t.plates} for t in load_dataset(folder)}
    except (ValueError, OSError):
        return {}


def _median(values: list[float]) -> float:
    return round(float(np.median(values)), 2) if values else 0.0


def run_peer(images: list[Path], threads: int, truths: dict[str, set[str]]) -> dict:
    from firmware.recognition.evaluate import normalise

    try:
        from rapidocr import RapidOCR
    except ImportError:
        return {"peer": "rapidocr not installed"}
    import cv2

    engine = RapidOCR(params={"EngineConfig.onnxruntime.intra_op_num_threads": threads,
                              "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                              "Global.log_level": "critical"})
    ms, found = [], 0
    for path in images:
        t0 = time.perf_counter()
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        result = engine(image)
        ms.append((time.perf_counter() - t0) * 1000)
        texts = [normalise(t) for t in (getattr(result, "txts", None) or ())]
        truth = truths.get(path.name, set())
        if truth and any(p in t for t in texts for p in truth):
            found += 1
    from importlib.metadata import version

    out = {"peer": f"rapidocr {version('rapidocr')} (PP-OCRv6 det+rec, onnxruntime)",
           "peer_ms_median": _median(ms), "peer_fps": round(1000 / np.median(ms), 2) if ms else 0.0}
    if truths:
        out["peer_plate_in_texts"] = round(found / len(images), 4)
    return out


def run(args: argparse.Namespace) -> dict:
    import cv2

    from firmware.recognition.cli import IMAGE_SUFFIXES
    from firmware.recognition.config import RecognitionConfig
    from firmware.recognition.evaluate import normalise
    from firmware.recognition.pipeline import Recognizer

    images = sorted(p for p in Path(args.images).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if args.limit:
        images = images[: args.limit]
    if not images:   # a folder with nothing to measure is a bad argument (exit 2), as the README's table says
        print(f"no images in {args.images}", file=sys.stderr)
        raise SystemExit(2)
    config = RecognitionConfig(threads=args.threads, use_xnnpack=not args.no_xnnpack, model_dir=args.model_dir)
    if args.min_detector_score is not None:
        config = config.model_copy(update={"min_detector_score": args.min_detector_score})
    if args.no_early_stop:
        config = config.model_copy(update={"early_stop": False})
    if getattr(args, "no_second_reader", False):
        config = config.model_copy(update={"second_reader": False})
    recognizer = Recognizer.from_config(config)
    truths = _truths(Path(args.images))
    decode, detect, ocr, total, crops, zooms, second, state = [], [], [], [], [], [], [], []
    correct = 0
    recognizer.warm_up()  # XNNPACK packs weights on the first call
    for p in range(args.passes):
        for path in images:
            t0 = time.perf_counter()
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            t1 = time.perf_counter()
            asks = recognizer.second_asks
            plates = recognizer.recognize(image)
            t2 = time.perf_counter()
            second.append(recognizer.second_asks - asks)
            decode.append((t1 - t0) * 1000)
            detect.append(recognizer.last_timings_ms["detect"])
            ocr.append(recognizer.last_timings_ms["ocr"])
            crops.append(recognizer.last_timings_ms.get("crops", 0))
            zooms.append(recognizer.last_timings_ms.get("zooms", 0))
            total.append((t2 - t0) * 1000)
            if p == 0 and truths.get(path.name) and any(normalise(c.text) in truths[path.name] for c in plates):
                correct += 1
            if p == 0 and plates and recognizer.state_reader is not None:
                # the plate's state: once per vehicle in the unit (capture.py), so timed apart from the frame
                t3 = time.perf_counter()
                recognizer.read_state(image, plates[0].box)
                state.append((time.perf_counter() - t3) * 1000)
    result = {
        "bench": "recognition", "images": len(images), "passes": args.passes, "threads": args.threads,
        "xnnpack": not args.no_xnnpack, "min_detector_score": config.min_detector_score,
        "early_stop": config.early_stop, "crops_per_image": round(float(np.mean(crops)), 2),
        "zooms_per_image": round(float(np.mean(zooms)), 2),
        "second_reader": (recognizer.second.entry.get("version") if recognizer.second is not None else None),
        "second_reader_asks_per_image": round(float(np.mean(second)), 2),
        "decode_ms_median": _median(decode), "detect_ms_median": _median(detect), "ocr_ms_median": _median(ocr),
        "total_ms_median": _median(total), "total_ms_p95": round(float(np.percentile(total, 95)), 2),
        "fps": round(1000 / float(np.median(total)), 2),
        "state_ms_median_per_vehicle": _median(state),   # not in total: read once per vehicle, not per frame
    }
    if truths:
        result["accuracy"] = round(correct / len(images), 4)
    if args.peer:
        result.update(run_peer(images, args.threads, truths))
    return result
