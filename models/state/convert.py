"""PP-OCRv6 header-text recogniser (ONNX from prepare.py) -> LiteRT .tflite for reading the plate's state.

Steps as for the plate OCR (models/ocr/convert.py): batch 1, onnxsim, onnx2tf with Erf replaced (LiteRT
has no builtin Erf), then dynamic-range int8 weights (float activations) through the TFLite converter.
The int8 file is checked against onnxruntime on rendered header words (state names and slogans drawn
with cv2's Hershey fonts, plain and italic: never photos) before anything is written: the greedy CTC
text must be identical on at least 97 % of them.

usage: python models/state/convert.py MODEL.onnx [--models-dir models]
needs (build machine only): onnx, onnxsim, onnxruntime, onnx2tf, tensorflow(-cpu), tf-keras,
onnx-graphsurgeon, sng4onnx, psutil, ai-edge-litert, opencv-python-headless
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
OUT_NAME = "state_text_int8.tflite"
VERSION = "ppocrv6s-rec-header-1"
MIN_AGREE = 0.97


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rendered_bands(n: int, h: int, w: int, seed: int = 0) -> list[np.ndarray]:
    """Header-like text lines: a state name or slogan in a Hershey font on a light plate colour, BGR uint8."""
    import cv2

    from firmware.recognition.state_names import STATE_WORDS

    rng = np.random.default_rng(seed)
    words = [p for p, _ in STATE_WORDS]
    fonts = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
             cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_TRIPLEX]
    out = []
    for _ in range(n):
        text = words[int(rng.integers(len(words)))]
        text = text.title() if rng.random() < 0.5 else text
        font = fonts[int(rng.integers(len(fonts)))] | (cv2.FONT_ITALIC if rng.random() < 0.3 else 0)
        (tw, th), _ = cv2.getTextSize(text, font, 1.0, 2)
        img = np.full((th * 2, tw + 20, 3), rng.integers(180, 256, 3), np.uint8)
        colour = tuple(int(c) for c in rng.integers(0, 120, 3))
        cv2.putText(img, text, (10, int(th * 1.5)), font, 1.0, colour, 2, cv2.LINE_AA)
        small = cv2.resize(img, (max(8, img.shape[1] // 4), max(4, img.shape[0] // 4)), interpolation=cv2.INTER_AREA)
        out.append(fit_band(small, h, w))
    return out


def fit_band(band: np.ndarray, h: int, w: int) -> np.ndarray:
    from firmware.recognition.state_reader import fit_line

    return fit_line(band, h, w)


def check(onnx_path: Path, tflite: Path, h: int, w: int) -> dict:
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    from firmware.recognition.state_reader import ctc_greedy, to_input

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    it = Interpreter(model_path=str(tflite), num_threads=1)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    agree = 0
    bands = rendered_bands(200, h, w)
    from prepare import ALPHABET

    for band in bands:
        x = to_input(band)
        ref = sess.run(None, {sess.get_inputs()[0].name: x.transpose(0, 3, 1, 2)})[0][0]
        it.set_tensor(i["index"], x)
        it.invoke()
        got = it.get_tensor(o["index"])[0]
        agree += ctc_greedy(ref, ALPHABET).text == ctc_greedy(got, ALPHABET).text
    return {"inputs": len(bands), "text_agree": agree}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("onnx", type=Path)
    ap.add_argument("--models-dir", type=Path, default=REPO / "models")
    args = ap.parse_args()
    import onnx

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from prepare import ALPHABET

    dims = onnx.load(str(args.onnx)).graph.input[0].type.tensor_type.shape.dim  # N, C, H, W
    h, w = dims[2].dim_value, dims[3].dim_value
    bindir, env = build_env()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        batch1_simplified(args.onnx, tmp / "rec.onnx")
        bands = np.stack(rendered_bands(20, 128, 128, seed=1)).astype(np.float32) / 255.0
        # onnx2tf looks for this file by name and would otherwise try to download its own sample
        np.save(tmp / "calibration_image_sample_data_20x128x128x3_float32.npy", bands)
        subprocess.run([str(bindir / "onnx2tf"), "-i", "rec.onnx", "-o", "tf", "-b", "1", "-rtpo", "Erf", "-osd"],
                       check=True, cwd=tmp, env=env, stdout=subprocess.DEVNULL)
        import tensorflow as tf

        converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp / "tf"))
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        out = tmp / OUT_NAME
        out.write_bytes(converter.convert())
        result = check(tmp / "rec.onnx", out, h, w)
        print(json.dumps(result))
        if result["text_agree"] < MIN_AGREE * result["inputs"]:
            raise SystemExit(f"int8 file reads differently from the ONNX model: {result}")
        shutil.copyfile(out, args.models_dir / OUT_NAME)
    entry = {"state_text": {
        "file": OUT_NAME, "sha256": sha256(args.models_dir / OUT_NAME), "version": VERSION,
        "dtype": "int8 weights (dynamic range), float activations",
        "input_size": [h, w], "input_layout": "NHWC", "color": "bgr", "normalize": "pm1",
        "alphabet": ALPHABET, "blank": 0, "output": f"(1, {w // 8}, {len(ALPHABET) + 1}) CTC probabilities",
        "card": "state_text.md", "licence": "Apache-2.0 (PP-OCRv6 weights from the rapidocr wheel, untouched)",
        "conversion_check": result}}
    if args.models_dir.resolve() == (REPO / "models").resolve():
        (Path(__file__).resolve().parent / "manifest_entry.json").write_text(json.dumps(entry, indent=2) + "\n")
        subprocess.run([sys.executable, str(REPO / "models" / "update_manifest.py")], check=True)
    else:
        (args.models_dir / "manifest.json").write_text(json.dumps({"models": entry}, indent=2) + "\n")
    print(json.dumps({"state_text": entry["state_text"]["sha256"]}))


if __name__ == "__main__":
    main()
