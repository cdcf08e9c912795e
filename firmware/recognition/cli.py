"""`alpr-unit read` and `alpr-unit eval`: the recogniser from the command line.

read: one JSON line per image (each plate with its state when legible), so a technician can point it at a
folder of captures and grep; a file that cannot be decoded gets its own error line (and exit 1) without
stopping the others.
eval: OpenALPR-benchmark-format folders, scored by firmware.recognition.evaluate's rules.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from firmware.cli import EXIT_FAILED, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, add_common, emit, load_unit_config, number

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def register(subparsers) -> None:
    read = subparsers.add_parser("read", help="read plates in image files or folders (one JSON line per image)")
    read.add_argument("paths", nargs="+", type=Path, help="image files and/or folders of images")
    _model_options(read)
    read.set_defaults(func=cmd_read)

    ev = subparsers.add_parser("eval", help="score the recogniser on a folder in OpenALPR benchmark format")
    ev.add_argument("--dataset", required=True, type=Path, help="folder of images with `image x y w h PLATE` .txt files")
    ev.add_argument("--per-image", action="store_true", help="also print one line per image")
    ev.add_argument("--min-accuracy", type=float, default=None, help="exit 1 when accuracy is below this")
    ev.add_argument("--true-boxes", action="store_true",
                    help="OCR alone on the ground-truth boxes (no detector): how much of the loss is the OCR's")
    ev.add_argument("--states", type=Path, default=None,
                    help="also score the plate's state against this label file (image, plate, state per line; "
                         "tests/data/openalpr_us_dev_states.tsv): legible, right, wrong, wrong per read")
    _model_options(ev)
    ev.set_defaults(func=cmd_eval)

    ps = subparsers.add_parser("eval-passes", help="score one consensus read per vehicle over rendered passes "
                                                   "(day/night/glare/rain, 0-150 km/h closing)")
    ps.add_argument("--passes", type=int, default=40, help="vehicles (conditions in turn)")
    ps.add_argument("--frames", type=int, default=8, help="frames per vehicle (15 frames/s)")
    ps.add_argument("--seed", type=int, default=21)
    _model_options(ps)
    ps.set_defaults(func=cmd_eval_passes)


def _model_options(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    parser.add_argument("--model-dir", type=Path, default=None, help="override recognition.model_dir")
    parser.add_argument("--threads", type=number(1, 8), default=None,
                        help="override recognition.threads (1-8, its bounds)")
    parser.add_argument("--no-xnnpack", action="store_true", help="run without the XNNPACK delegate")
    parser.add_argument("--no-hints", action="store_true", help="switch the plate-format hints off")
    parser.add_argument("--no-second-reader", action="store_true",
                        help="read with our OCR alone (recognition.second_reader off)")


def recognition_config(args: argparse.Namespace):
    config = load_unit_config(args).recognition
    update = {}
    if args.model_dir is not None:
        update["model_dir"] = args.model_dir
    if args.threads is not None:
        update["threads"] = args.threads
    if args.no_xnnpack:
        update["use_xnnpack"] = False
    if args.no_hints:
        update["format_hints"] = False
    if getattr(args, "no_second_reader", False):
        update["second_reader"] = False
    return config.model_copy(update=update) if update else config


def build_recognizer(args: argparse.Namespace):
    from firmware.recognition.manifest import ModelIntegrityError
    from firmware.recognition.pipeline import Recognizer

    try:
        return Recognizer.from_config(recognition_config(args))
    except ModelIntegrityError as exc:
        print(f"model error: {exc}", file=sys.stderr)
        return None


def expand_images(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()))
        else:
            out.append(p)
    return out


def cmd_read(args: argparse.Namespace) -> int:
    import cv2

    images = expand_images(args.paths)
    if not images:
        print("no images found", file=sys.stderr)
        return EXIT_USAGE
    recognizer = build_recognizer(args)
    if recognizer is None:
        return EXIT_RUNTIME
    recognizer.warm_up()  # so "ms" is the per-image cost, not the first call's weight packing
    status = EXIT_OK
    for path in images:
        t0 = time.perf_counter()
        image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
        if image is None:
            reason = "no such file" if not path.exists() else "not a readable image"
            print(f"error: {path}: {reason}", file=sys.stderr)
            emit({"image": str(path), "error": reason}, args.json)
            status = EXIT_FAILED
            continue
        plates = recognizer.recognize(image)
        ms = (time.perf_counter() - t0) * 1000
        out = [{"text": p.text, "confidence": round(p.confidence, 4), "box": list(p.box)} for p in plates]
        if getattr(recognizer, "state_reader", None) is not None:   # the unit reads it once per vehicle: not in ms
            for entry, p in zip(out, plates):
                decision = recognizer.read_state(image, p.box)
                entry["state"] = decision.state
                entry["state_confidence"] = decision.confidence if decision.state else None
        emit({"image": str(path), "plates": out, "ms": round(ms, 2)}, args.json)
    return status


def cmd_eval(args: argparse.Namespace) -> int:
    from firmware.recognition.evaluate import evaluate, load_dataset

    if not args.dataset.is_dir():
        print(f"error: {args.dataset}: not a folder", file=sys.stderr)
        return EXIT_USAGE
    try:
        dataset = load_dataset(args.dataset)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not dataset:
        print(f"error: {args.dataset}: no ground-truth .txt files", file=sys.stderr)
        return EXIT_USAGE
    states = None
    if args.states is not None:
        from firmware.recognition.evaluate import load_states

        try:
            states = load_states(args.states)
        except (OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    recognizer = build_recognizer(args)
    if recognizer is None:
        return EXIT_RUNTIME
    if states is not None and getattr(recognizer, "state_reader", None) is None:
        print("error: --states needs the state reader (recognition.read_state on and the manifest's state_text "
              "model)", file=sys.stderr)
        return EXIT_USAGE
    recognizer.warm_up()

    def per_image(truth, reads, score, ms):
        if args.per_image:
            line = {"image": truth.image.name, "truth": [t for _, t in truth.plates],
                    "reads": [r for r, _ in reads], **score, "ms": round(ms, 2)}
            print(json.dumps(line), flush=True)

    summary = evaluate(recognizer, dataset, on_image=per_image, true_boxes=args.true_boxes, states=states)
    emit(summary, args.json)
    if args.min_accuracy is not None and summary["accuracy"] < args.min_accuracy:
        return EXIT_FAILED
    return EXIT_OK


def cmd_eval_passes(args: argparse.Namespace) -> int:
    from firmware.recognition.passes import evaluate_passes

    if not (1 <= args.passes <= 10_000 and 1 <= args.frames <= 100):
        print("error: --passes must be 1-10000 and --frames 1-100", file=sys.stderr)
        return EXIT_USAGE
    recognizer = build_recognizer(args)
    if recognizer is None:
        return EXIT_RUNTIME
    recognizer.warm_up()
    emit(evaluate_passes(recognizer, args.passes, args.frames, args.seed), args.json)
    return EXIT_OK
