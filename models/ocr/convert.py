"""ONNX plate OCR -> LiteRT .tflite files + their manifest entries.

Steps: fix batch 1, onnxsim (static shapes), onnx2tf with Erf replaced by its builtin-friendly
approximation (LiteRT has no builtin Erf), calibration from rendered plates (never real photos).
Writes models/plate_ocr_int8.tflite (manifest "ocr": int8 weights, float activations, 3.4 MB; what
the unit runs) and models/plate_ocr.tflite (manifest "ocr_float": float32 reference, 12 MB), writes
models/ocr/manifest_entry.json and merges it into models/manifest.json (models/update_manifest.py).

usage: python models/ocr/convert.py MODEL.onnx --version V [--models-dir models]
needs: onnx, onnxsim, onnx2tf, tensorflow(-cpu), tf-keras, onnx-graphsurgeon, sng4onnx, psutil
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from models.onnx_steps import batch1_simplified, build_env  # noqa: E402
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
H, W = 48, 128  # replaced by the ONNX model's own input size in main()


def _calibration(path: Path, n: int = 200) -> None:
    import cv2

    from firmware.synthetic.plate import degrade, random_plate_text, render_plate

    rng = np.random.default_rng(7)
    crops = [cv2.resize(degrade(render_plate(random_plate_text(rng), rng), rng, 0.7), (W, H),
                        interpolation=cv2.INTER_AREA) for _ in range(n)]
    np.save(path, np.stack(crops).astype(np.float32) / 255.0)
    # onnx2tf looks for this file by name and would otherwise try to download its own sample
    np.save(path.parent / "calibration_image_sample_data_20x128x128x3_float32.npy",
            np.stack([cv2.resize(c, (128, 128)) for c in crops[:20]]).astype(np.float32) / 255.0)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("onnx", type=Path)
    ap.add_argument("--version", required=True)
    ap.add_argument("--models-dir", type=Path, default=REPO / "models")
    ap.add_argument("--metrics", type=Path, default=None, help="JSON merged into the manifest entry")
    args = ap.parse_args()
    import onnx

    global H, W
    dims = onnx.load(str(args.onnx)).graph.input[0].type.tensor_type.shape.dim  # N, C, H, W
    H, W = dims[2].dim_value, dims[3].dim_value

    bindir, env = build_env()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        batch1_simplified(args.onnx, tmp / "ocr.onnx")
        _calibration(tmp / "calib.npy")  # also provides the sample file onnx2tf would download
        subprocess.run([str(bindir / "onnx2tf"), "-i", "ocr.onnx", "-o", "tf", "-b", "1", "-rtpo", "Erf", "-osd"],
                       check=True, cwd=tmp, env=env, stdout=subprocess.DEVNULL)
        # int8 weights, float activations: LayerNorm's division does not survive full-integer
        # quantization (LiteRT's DIV kernel rejects the zero-point inputs it gets there)
        import tensorflow as tf

        converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp / "tf"))
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        (tmp / "tf" / "ocr_dynamic_range_quant.tflite").write_bytes(converter.convert())
        outputs = {"plate_ocr.tflite": tmp / "tf" / "ocr_float32.tflite",
                   "plate_ocr_int8.tflite": tmp / "tf" / "ocr_dynamic_range_quant.tflite"}
        for name, src in outputs.items():
            shutil.copyfile(src, args.models_dir / name)
    entry_path = Path(__file__).resolve().parent / "manifest_entry.json"
    manifest = {"models": {}}
    metrics = json.loads(args.metrics.read_text()) if args.metrics else {}
    common = {"version": args.version, "input_size": [H, W], "input_layout": "NHWC", "color": "bgr",
              "normalize": "pm1", "alphabet": ALPHABET, "blank": 0, "output": f"(1, {W // 8}, 37) CTC probabilities",
              "card": "plate_ocr.md", "licence": "Apache-2.0 (PP-OCRv6 weights from the rapidocr wheel)"}
    # the unit runs the int8 file: 3.4 MB, reads as the float one does on our checks, no slower under
    # XNNPACK; the float file stays as the reference the tests compare it with
    manifest["models"]["ocr"] = {"file": "plate_ocr_int8.tflite",
                                 "sha256": sha256(args.models_dir / "plate_ocr_int8.tflite"),
                                 "dtype": "int8 weights (dynamic range), float activations", **common, **metrics}
    manifest["models"]["ocr_float"] = {"file": "plate_ocr.tflite", "sha256": sha256(args.models_dir / "plate_ocr.tflite"),
                                       "dtype": "float32", **common}
    manifest["models"].pop("ocr_int8", None)
    if args.models_dir.resolve() == (REPO / "models").resolve():
        entry_path.write_text(json.dumps(manifest["models"], indent=2) + "\n")
        subprocess.run([sys.executable, str(REPO / "models" / "update_manifest.py")], check=True)
    else:  # a scratch folder: a manifest of its own
        (args.models_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps({k: manifest["models"][k]["sha256"] for k in ("ocr", "ocr_float")}))


if __name__ == "__main__":
    main()
