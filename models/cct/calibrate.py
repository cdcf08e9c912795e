"""Fit the two readers' temperatures on rendered plates and check the combination there (never on photos).

Each rendered scene (models/ocr/train_ocr.py `runtime_cut_scene`: a plate, half of them in a dealer
frame, tilted, degraded, with a detector-like quad that is often taller and lower than the plate) is cut
the way the unit cuts it, for each reader at its own input size, and read by both. Then:
- temperatures: on the first half, each reader's temperature minimises the negative log-likelihood of
  the true characters (CTC reader: its character rows where it read the right number of characters;
  slot reader: all 9 slots, the empty class for slots past the text), by a grid search;
- held-out check on the second half: exact-read rate of each reader, of their union (either right), of
  the combination, and of the combination gated as the unit gates it (combine.py, pipeline.py).
Writes the temperatures into models/cct/manifest_entry.json ("calibration") and merges the manifest.

usage: python models/cct/calibrate.py [--n 1200] [--atlas glyphs.npz] [--models-dir models] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "models" / "ocr"))

from firmware.recognition.combine import combine, combine_doubting, slot_rows, temper  # noqa: E402
from firmware.recognition.config import RecognitionConfig  # noqa: E402
from firmware.recognition.manifest import load_model_entry  # noqa: E402
from firmware.recognition.ocr import PlateOCR, rectify  # noqa: E402
from firmware.recognition.pipeline import needs_second_reader  # noqa: E402
from firmware.recognition.slot_ocr import SlotOCR  # noqa: E402

GRID = np.round(np.arange(0.3, 4.01, 0.05), 3)


def read_all(n: int, models_dir: Path, seed: int) -> list[dict]:
    from train_ocr import runtime_cut_scene

    cfg = RecognitionConfig()
    a_path, a_entry = load_model_entry(models_dir, "ocr")
    b_path, b_entry = load_model_entry(models_dir, "ocr_cct")
    a, b = PlateOCR(a_path, a_entry), SlotOCR(b_path, b_entry)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        canvas, quad, text = runtime_cut_scene(rng)
        pad = (cfg.crop_pad_x, cfg.crop_pad_y)
        ra = a.read(rectify(canvas, quad, a.input_h, a.input_w, pad=pad))
        rb = b.read(rectify(canvas, quad, b.input_h, b.input_w, pad=pad))
        out.append({"text": text, "a_text": ra.text, "a_rows": ra.char_probs, "a_confs": ra.char_confidences,
                    "b_text": rb.text, "b_slots": rb.slot_probs})
    return out


def nll_first(reads: list[dict], alphabet: str, t: float) -> float:
    total, count = 0.0, 0
    for r in reads:
        if len(r["a_text"]) == len(r["text"]) and len(r["text"]):
            p = temper(r["a_rows"], t)
            idx = [alphabet.index(c) for c in r["text"]]
            total -= float(np.log(np.maximum(p[np.arange(len(idx)), idx], 1e-12)).sum())
            count += len(idx)
    return total / max(count, 1)


def nll_second(reads: list[dict], alphabet: str, t: float) -> float:
    total, count = 0.0, 0
    for r in reads:
        p = temper(r["b_slots"], t)
        target = [alphabet.index(c) for c in r["text"]][: p.shape[0]]
        target += [len(alphabet)] * (p.shape[0] - len(target))
        total -= float(np.log(np.maximum(p[np.arange(p.shape[0]), target], 1e-12)).sum())
        count += p.shape[0]
    return total / max(count, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=2101)
    ap.add_argument("--atlas", type=Path, default=None, help="glyph atlas (models/ocr/make_atlas.py), if built")
    ap.add_argument("--models-dir", type=Path, default=REPO / "models")
    ap.add_argument("--dry-run", action="store_true", help="print, write nothing")
    args = ap.parse_args()
    if args.atlas and args.atlas.exists():
        from firmware.synthetic.plate import load_glyph_atlas

        load_glyph_atlas(args.atlas)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    reads = read_all(args.n, args.models_dir, args.seed)
    fit, held = reads[: len(reads) // 2], reads[len(reads) // 2:]
    t_a = float(min(GRID, key=lambda t: nll_first(fit, alphabet, t)))
    t_b = float(min(GRID, key=lambda t: nll_second(fit, alphabet, t)))
    cfg = RecognitionConfig()
    right = {"first": 0, "second": 0, "union": 0, "combined": 0, "gated": 0}
    gated = 0
    for r in held:
        a_ok, b_ok = r["a_text"] == r["text"], r["b_text"] == r["text"]
        both = combine_doubting(r["a_rows"], r["b_slots"], alphabet, t_a, t_b, cfg.second_reader_doubts)
        use = needs_second_reader(r["a_text"], r["a_confs"], cfg.second_reader_below)
        gated += use
        right["first"] += a_ok
        right["second"] += b_ok
        right["union"] += a_ok or b_ok
        right["combined"] += both.text == r["text"]
        right["gated"] += (both.text if use else r["a_text"]) == r["text"]
    report = {"rendered_scenes": len(reads), "fit": len(fit), "held_out": len(held),
              "t_ocr": t_a, "t_cct": t_b,
              "nll_ocr": [round(nll_first(held, alphabet, 1.0), 4), round(nll_first(held, alphabet, t_a), 4)],
              "nll_cct": [round(nll_second(held, alphabet, 1.0), 4), round(nll_second(held, alphabet, t_b), 4)],
              "held_out_exact": {k: round(v / len(held), 4) for k, v in right.items()},
              "held_out_gated_share": round(gated / len(held), 4), "seed": args.seed}
    print(json.dumps(report))
    if args.dry_run:
        return
    entry_path = Path(__file__).resolve().parent / "manifest_entry.json"
    entry = json.loads(entry_path.read_text())
    entry["ocr_cct"]["calibration"] = report
    entry_path.write_text(json.dumps(entry, indent=2) + "\n")
    subprocess.run([sys.executable, str(REPO / "models" / "update_manifest.py")], check=True)


if __name__ == "__main__":
    main()
