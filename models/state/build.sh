#!/usr/bin/env bash
# Rebuild the header-text recogniser the unit reads the plate's state with (manifest "state_text"):
# PP-OCRv6 small from the rapidocr wheel (Apache-2.0), untouched weights, output cut to 0-9A-Za-z and
# " .-'," (models/state/prepare.py), converted to LiteRT with int8 weights (models/state/convert.py,
# checked against onnxruntime on rendered words first). No training, no network, ~2 min on the dev VM.
#
#   ML_PY=/work/mlvenv/bin/python bash models/state/build.sh [WORKDIR]
#
# ML_PY: the build venv of models/README.md (onnx, onnxsim, onnxruntime, onnx2tf, tensorflow(-cpu),
# tf-keras, onnx-graphsurgeon, sng4onnx, psutil, ai-edge-litert, opencv-python-headless, rapidocr).
# MODELS_DIR=elsewhere leaves the committed files alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${ML_PY:-python}"
WORK="${1:-build/state}"
mkdir -p "$WORK"
"$PY" models/state/prepare.py "$WORK/state_rec.onnx"
"$PY" models/state/convert.py "$WORK/state_rec.onnx" --models-dir "${MODELS_DIR:-models}"
