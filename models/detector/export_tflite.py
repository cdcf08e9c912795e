"""ONNX -> TFLite (float32 and full-int8) for PlateNet, calibrated on our own synthetic scenes.

    python models/detector/export_tflite.py --onnx build/detector/platenet.onnx --out build/detector

Needs tensorflow + onnx2tf (build machine only, never on the unit). onnx2tf writes the SavedModel
(NHWC input 1xHxWx3 float BGR 0..255, default 544x960; outputs score 1xH/4xW/4x1 and corners 1xH/4xW/4x8); the TF converter then makes
plate_detector_float32.tflite and plate_detector_int8.tflite (int8 weights and activations, int8
input/output tensors with their scale/zero point, so the unit feeds uint8 pixels shifted by 128).
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))
from data import sample  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", type=Path, help="platenet.pt from train.py (re-exported to ONNX here)")
    ap.add_argument("--onnx", type=Path, help="an already exported ONNX instead of --weights")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--calib", type=int, default=300, help="synthetic scenes for int8 calibration")
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--input-hw", type=int, nargs=2, default=[544, 960], help="model input (h w), multiples of 32")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.out / "tf"
    work.mkdir(exist_ok=True)
    if args.weights is not None:
        import torch

        from net import PlateNet, export_onnx

        net = PlateNet()
        net.load_state_dict(torch.load(args.weights, map_location="cpu"))
        args.onnx = work / "platenet.onnx"
        export_onnx(net, args.onnx, tuple(args.input_hw))
    # onnx2tf otherwise fetches its own sample images at start; give it ours (never used for our model)
    rng = np.random.default_rng(args.seed)
    stub = np.stack([sample(rng)[0][:128, :128].astype(np.float32) / 255.0 for _ in range(20)])
    np.save(work / "calibration_image_sample_data_20x128x128x3_float32.npy", stub)
    subprocess.run([str(Path(sys.executable).with_name("onnx2tf")), "-i", str(args.onnx.resolve()),
                    "-o", str((work / "saved_model").resolve()), "-osd", "-n"], check=True, cwd=work)

    import tensorflow as tf

    import cv2

    hw = tuple(args.input_hw)
    calib = [cv2.resize(sample(rng)[0], (hw[1], hw[0])).astype(np.float32)[None] for _ in range(args.calib)]

    def representative():
        for x in calib:
            yield [x]

    conv = tf.lite.TFLiteConverter.from_saved_model(str(work / "saved_model"))
    (args.out / "plate_detector_float32.tflite").write_bytes(conv.convert())
    conv = tf.lite.TFLiteConverter.from_saved_model(str(work / "saved_model"))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    (args.out / "plate_detector_int8.tflite").write_bytes(conv.convert())
    for name in ("plate_detector_float32.tflite", "plate_detector_int8.tflite"):
        print(name, os.path.getsize(args.out / name), "bytes")


if __name__ == "__main__":
    main()
