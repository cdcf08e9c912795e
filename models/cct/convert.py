"""fast-plate-ocr CCT-XS (ONNX, MIT) -> LiteRT .tflite for the unit's second plate reader.

The upstream graph was exported from Keras with an NHWC uint8 input; onnx2tf takes any 4-D input for
NCHW and would transpose it wrongly (its outputs then match nothing). So a Transpose is put in front
of the graph with an NCHW input: onnx2tf turns that input back to NHWC and the two transposes cancel.
Erf (GELU) is replaced by onnx2tf's builtin-friendly form (LiteRT has no builtin Erf). The result is
checked against onnxruntime on random and rendered inputs (argmax identical, max |diff| < 1e-3)
before anything is written.

usage: python models/cct/convert.py SRC.onnx [--models-dir models]
needs (build machine only): onnx, onnxsim, onnxruntime, onnx2tf, tensorflow(-cpu), tf-keras,
onnx-graphsurgeon, sng4onnx, psutil, ai-edge-litert, opencv-python-headless
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SOURCE_SHA256 = "c1ae2ae031b10f8ab7ed6e3cdaf8d9c753477e299dbad3579c8f705a7d882134"
OUT_NAME = "plate_ocr_cct_float32.tflite"
H, W = 64, 128
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def nchw_front(src: Path, dst: Path) -> None:
    """Batch 1, and an NCHW uint8 input 'image' feeding the graph's NHWC input through a Transpose."""
    import onnx
    from onnx import TensorProto, helper

    m = onnx.load(str(src))
    g = m.graph
    for value in (g.input[0], g.output[0]):
        dim = value.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_param")
        dim.dim_value = 1
    old = g.input[0]
    g.input.remove(old)
    g.input.insert(0, helper.make_tensor_value_info("image", TensorProto.UINT8, [1, 3, H, W]))
    g.node.insert(0, helper.make_node("Transpose", ["image"], [old.name], perm=[0, 2, 3, 1], name="to_nhwc"))
    onnx.checker.check_model(m)
    onnx.save(m, str(dst))


def check_against_onnx(src: Path, tflite: Path) -> dict:
    """Max |diff| and argmax agreement between the TFLite file and the original ONNX on 40 inputs."""
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    sys.path.insert(0, str(REPO))
    from firmware.synthetic.plate import degrade, random_plate_text, render_plate
    import cv2

    sess = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    it = Interpreter(model_path=str(tflite), num_threads=1)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    rng = np.random.default_rng(0)
    inputs = [rng.integers(0, 256, (1, H, W, 3), dtype=np.uint8) for _ in range(20)]
    for _ in range(20):
        plate = degrade(render_plate(random_plate_text(rng), rng), rng, 0.7)
        inputs.append(cv2.resize(plate, (W, H), interpolation=cv2.INTER_AREA)[None, ..., ::-1].copy())
    worst, agree = 0.0, 0
    for x in inputs:
        ref = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        it.set_tensor(i["index"], x)
        it.invoke()
        y = it.get_tensor(o["index"])
        worst = max(worst, float(np.abs(y - ref).max()))
        agree += int((y.argmax(-1) == ref.argmax(-1)).all())
    return {"max_abs_diff": worst, "argmax_agree": agree, "inputs": len(inputs)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("onnx", type=Path)
    ap.add_argument("--models-dir", type=Path, default=REPO / "models")
    args = ap.parse_args()
    got = sha256(args.onnx)
    if got != SOURCE_SHA256:
        raise SystemExit(f"{args.onnx}: sha256 {got} is not the CCT-XS v1 global model ({SOURCE_SHA256})")
    bindir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bindir}:{os.environ.get('PATH', '')}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        nchw_front(args.onnx, tmp / "nchw.onnx")
        subprocess.run([str(bindir / "onnxsim"), str(tmp / "nchw.onnx"), str(tmp / "cct.onnx")], check=True,
                       env=env, stdout=subprocess.DEVNULL)
        # onnx2tf looks for this calibration sample by name and would otherwise try to download one;
        # it is used only for int8 outputs, which we do not ask for
        np.save(tmp / "calibration_image_sample_data_20x128x128x3_float32.npy", np.zeros((20, 128, 128, 3), np.float32))
        subprocess.run([str(bindir / "onnx2tf"), "-i", "cct.onnx", "-o", "tf", "-b", "1", "-rtpo", "Erf"],
                       check=True, cwd=tmp, env=env, stdout=subprocess.DEVNULL)
        built = tmp / "tf" / "cct_float32.tflite"
        check = check_against_onnx(args.onnx, built)
        if check["argmax_agree"] != check["inputs"] or check["max_abs_diff"] > 1e-3:
            raise SystemExit(f"converted model differs from the ONNX original: {check}")
        shutil.copyfile(built, args.models_dir / OUT_NAME)
    entry = {"ocr_cct": {
        "file": OUT_NAME, "sha256": sha256(args.models_dir / OUT_NAME), "dtype": "float32",
        "version": "fast-plate-ocr-cct-xs-v1-global", "source_sha256": SOURCE_SHA256,
        "input_size": [H, W], "input_layout": "NHWC", "input_dtype": "uint8", "color": "rgb",
        "alphabet": ALPHABET, "pad_char": "_", "output": "(1, 9, 37) per-slot probabilities, slot class 36 = empty",
        "card": "plate_ocr_cct.md", "licence": "MIT (fast-plate-ocr, ankandrew)",
        "conversion_check": check,
    }}
    if args.models_dir.resolve() == (REPO / "models").resolve():
        (Path(__file__).resolve().parent / "manifest_entry.json").write_text(json.dumps(entry, indent=2) + "\n")
        subprocess.run([sys.executable, str(REPO / "models" / "update_manifest.py")], check=True)
    else:
        manifest = args.models_dir / "manifest.json"
        data = json.loads(manifest.read_text()) if manifest.is_file() else {"models": {}}
        data["models"].update(entry)
        manifest.write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps({"ocr_cct": entry["ocr_cct"]["sha256"], **check}))


if __name__ == "__main__":
    main()
