#!/usr/bin/env bash
# Rebuild the plate detector from scratch: synthetic scenes -> PlateNet -> ONNX -> TFLite float32 + int8.
#
#   ML_PY=/work/mlvenv/bin/python bash models/detector/build.sh [OUT]
#
# ML_PY: a Python with torch (CUDA if available), opencv-python-headless, numpy, onnx, tensorflow,
# onnx2tf, onnx-graphsurgeon, sng4onnx, tf_keras, psutil (build machine only; never the unit's deps).
# The shipped v3 models were made in three stages because of the GPU time we had: 430 s from scratch
# on one H100 with the first scene generator, 128 s of fine-tuning on the current one (textures,
# clutter, detailed cars), then 1200 s on ONE CPU core (batch 8, BatchNorm frozen) on 256x448 crops
# where half the plates are small and dim, rendered at 2x and downscaled (data.sample_small).
# On CPU only, raise STAGE1/2 seconds (hours) or expect a weaker model.
# Then: copy OUT/plate_detector_*.tflite to models/, put their sha256 in models/detector/manifest_entry.json
# and run models/update_manifest.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${ML_PY:-python}"
OUT="${1:-build/detector}"
WORKERS="${WORKERS:-$(( $(nproc) > 1 ? $(nproc) - 1 : 1 ))}"
"$PY" models/detector/train.py --out "$OUT/stage1" --seconds "${STAGE1_SECONDS:-430}" --workers "$WORKERS" --batch 64
"$PY" models/detector/train.py --out "$OUT/stage2" --seconds "${STAGE2_SECONDS:-132}" --workers "$WORKERS" \
    --batch 48 --lr 1.5e-3 --warmup 30 --init "$OUT/stage1/platenet.pt"
"$PY" models/detector/train.py --out "$OUT/stage3" --seconds "${STAGE3_SECONDS:-1200}" --workers 1 --threads 1 \
    --batch 8 --lr 5e-4 --warmup 20 --small 256 448 --freeze-bn --init "$OUT/stage2/platenet.pt"
"$PY" models/detector/export_tflite.py --weights "$OUT/stage3/platenet.pt" --out "$OUT" --input-hw 544 960
# the same weights at 256x512 for the closer look at weak detections (firmware/recognition/zoom.py)
"$PY" models/detector/export_tflite.py --weights "$OUT/stage3/platenet.pt" --out "$OUT/zoom" --input-hw 256 512 --calib 20
cp "$OUT/zoom/plate_detector_float32.tflite" "$OUT/plate_detector_zoom_float32.tflite"
sha256sum "$OUT"/plate_detector_*.tflite
