#!/usr/bin/env bash
# Rebuild the unit's second plate reader (manifest "ocr_cct") from fast-plate-ocr's CCT-XS v1 global
# model (MIT), as kept in the shared folder beside the checkout. No training, no network: the ONNX file
# is converted as it is (models/cct/convert.py) and checked against onnxruntime before it is written.
#
#   ML_PY=/work/mlvenv/bin/python bash models/cct/build.sh [SRC.onnx]
#
# ML_PY: a Python with onnx, onnxsim, onnxruntime, onnx2tf, tensorflow(-cpu), tf-keras,
# onnx-graphsurgeon, sng4onnx, psutil, ai-edge-litert, opencv-python-headless, numpy, pydantic
# (the build venv of models/README.md). MODELS_DIR=elsewhere leaves the committed files alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${ML_PY:-python}"
SRC="${1:-../shared/models/fast-plate-ocr-cct-xs-v1/cct_xs_v1_global.onnx}"
"$PY" models/cct/convert.py "$SRC" --models-dir "${MODELS_DIR:-models}"
# temperatures of both readers for the per-character combination, fitted on rendered plates only
# (never the evaluation photos); writes "calibration" into the manifest entry (~1 min on the dev VM)
# (with MODELS_DIR the scratch folder has no first reader to calibrate against: skipped)
if [ -z "${MODELS_DIR:-}" ]; then
  "$PY" models/cct/calibrate.py --n "${CAL_N:-1200}"
fi
