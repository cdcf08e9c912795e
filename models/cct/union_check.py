"""The ceiling of two readers on a labelled folder: an image counts when EITHER reader reads its plate.

Runs the unit's pipeline with our OCR alone (second reader off) and, on every crop it reads, asks the
slot reader too (the same quad and margins); prints our exact rate, the slot reader's on the same
crops, and their union. A diagnostic for docs/perf/recognition.md, not a way to choose anything.

usage: python models/cct/union_check.py DATASET_DIR [--models-dir models]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from firmware.recognition.config import RecognitionConfig  # noqa: E402
from firmware.recognition.evaluate import load_dataset, normalise  # noqa: E402
from firmware.recognition.manifest import load_model_entry  # noqa: E402
from firmware.recognition.ocr import rectify  # noqa: E402
from firmware.recognition.pipeline import Recognizer  # noqa: E402
from firmware.recognition.slot_ocr import SlotOCR  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--models-dir", type=Path, default=REPO / "models")
    args = ap.parse_args()
    cfg = RecognitionConfig(model_dir=args.models_dir, second_reader=False)
    rec = Recognizer.from_config(cfg)
    path, entry = load_model_entry(args.models_dir, "ocr_cct")
    slot = SlotOCR(path, entry)
    seen: list[str] = []
    original = rec.first_read

    def first_read(image, quad, pad_x=None):
        pad = (cfg.crop_pad_x if pad_x is None else pad_x, cfg.crop_pad_y)
        seen.append(slot.read(rectify(image, quad, slot.input_h, slot.input_w, pad=pad)).text)
        return original(image, quad, pad_x)

    rec.first_read = first_read
    first = second = union = 0
    for truth in load_dataset(args.dataset):
        plates = {p for _, p in truth.plates}
        seen.clear()
        image = cv2.imread(str(truth.image), cv2.IMREAD_COLOR)
        ours = {normalise(c.text) for c in rec.recognize(image)} if image is not None else set()
        a, b = bool(ours & plates), bool({normalise(t) for t in seen} & plates)
        first, second, union = first + a, second + b, union + (a or b)
    n = len(load_dataset(args.dataset))
    print(json.dumps({"images": n, "first": first, "second_on_same_crops": second, "union": union,
                      "union_rate": round(union / n, 4)}))


if __name__ == "__main__":
    main()
