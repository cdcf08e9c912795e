#!/usr/bin/env bash
# arm64 for real: build the arm64 package here, install it into a Debian bookworm arm64 root made with
# debootstrap --foreign + qemu-user-static, and there run `alpr-unit selftest`, load the LiteRT int8
# models and `alpr-unit read` rendered plates; the reads are compared with this machine's (text and
# confidence). Needs root (chroot, binfmt) and the Debian mirror for the first debootstrap.
#
#   sudo make arm64-check          (ARM64_ROOT=/var/tmp/alpr-arm64/root is kept and reused)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PY=${PYTHON:-$REPO/.venv/bin/python}
ROOT=${ARM64_ROOT:-/var/tmp/alpr-arm64/root}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
OUT=${OUT:-dist/arm64-check}
[ "$(id -u)" = 0 ] || { echo "arm64-check: run as root (chroot and binfmt need it)" >&2; exit 2; }
for tool in debootstrap qemu-aarch64-static update-binfmts; do
  command -v "$tool" >/dev/null || { echo "arm64-check: $tool missing (apt-get install debootstrap qemu-user-static binfmt-support)" >&2; exit 2; }
done
start=$(date +%s)
mkdir -p "$OUT"
[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
if [ ! -x "$ROOT/usr/bin/python3" ]; then
  echo "arm64-check: debootstrap bookworm arm64 into $ROOT"
  debootstrap --arch=arm64 --foreign --variant=minbase --include=python3,python3-venv bookworm "$ROOT" "$MIRROR"
  chroot "$ROOT" /debootstrap/debootstrap --second-stage
fi
t_root=$(date +%s)
echo "arm64-check: building the arm64 package"
deb=$(PYTHON="$PY" DEB_COMPRESS=${DEB_COMPRESS:-gzip} scripts/build-deb.sh arm64 "$OUT" | tail -n1)
t_build=$(date +%s)
mount -t proc proc "$ROOT/proc" 2>/dev/null || true
mount -t sysfs sysfs "$ROOT/sys" 2>/dev/null || true        # LiteRT's cpuinfo reads /sys/devices/system/cpu
trap 'umount "$ROOT/proc" "$ROOT/sys" 2>/dev/null || true' EXIT
cp "$deb" "$ROOT/tmp/alpr-unit.deb"
# Depends satisfied in the root except chrony, systemd and udev, which a selftest and a read do not use.
chroot "$ROOT" dpkg -i --force-depends /tmp/alpr-unit.deb > "$OUT/dpkg.log" 2>&1 || { tail -20 "$OUT/dpkg.log"; exit 1; }
t_install=$(date +%s)
rm -rf "$ROOT/tmp/plates" && mkdir -p "$ROOT/tmp/plates"
"$PY" - "$ROOT/tmp/plates" <<'PY'
import sys
from pathlib import Path
import cv2
from firmware.selftest import test_image
for text in ("SELF42T", "ABC1234", "KJH8842", "7XYZ221", "NCX4417", "PLT9090", "DRV5150", "HNT3302"):
    cv2.imwrite(str(Path(sys.argv[1]) / f"{text}.png"), test_image(text))
PY
cat > "$ROOT/tmp/selftest.toml" <<TOML
[unit]
id = "arm64-check"
data_dir = "/tmp/alpr-data"
min_free_mb = 1
[[cameras]]
id = "front"
kind = "folder"
uri = "/tmp/plates"
[gps]
source = "file"
file = "/tmp/route.nmea"
TOML
cp firmware/assets/demo-route.nmea "$ROOT/tmp/route.nmea"
"$PY" -m firmware read "$ROOT/tmp/plates" --json > "$OUT/reads-x86.jsonl"
chroot "$ROOT" /opt/alpr-unit/venv/bin/alpr-unit read /tmp/plates --json > "$OUT/reads-arm64.jsonl"
t_read=$(date +%s)
set +e
chroot "$ROOT" /opt/alpr-unit/venv/bin/alpr-unit selftest --config /tmp/selftest.toml --json --gps-timeout 20 > "$OUT/selftest-arm64.jsonl"
selftest_rc=$?
chroot "$ROOT" /opt/alpr-unit/venv/bin/python - > "$OUT/int8-arm64.json" <<'PY'
import json, platform
from pathlib import Path
import numpy as np
from ai_edge_litert.interpreter import Interpreter
import firmware
models = Path(firmware.__file__).parent / "models_data"
out = {"machine": platform.machine()}
for name in ("plate_detector_int8.tflite", "plate_ocr_int8.tflite"):
    interp = Interpreter(model_path=str(models / name), num_threads=1)
    interp.allocate_tensors()
    detail = interp.get_input_details()[0]
    interp.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    interp.invoke()
    types = sorted({str(t["dtype"].__name__) for t in interp.get_tensor_details()})
    out[name] = {"invoked": True, "tensor_types": types}
print(json.dumps(out))
PY
int8_rc=$?
set -e
end=$(date +%s)
"$PY" - "$OUT" "$selftest_rc" "$int8_rc" "$((t_root - start))" "$((t_build - t_root))" "$((t_install - t_build))" "$((t_read - t_install))" "$((end - start))" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
selftest_rc, int8_rc, t_root, t_build, t_install, t_read, total = map(int, sys.argv[2:])
def reads(name):
    return {Path(r["image"]).name: r["plates"] for r in map(json.loads, (out / name).read_text().splitlines())}
x86, arm = reads("reads-x86.jsonl"), reads("reads-arm64.jsonl")
same_text = sum(1 for k in x86 if [p["text"] for p in x86[k]] == [p["text"] for p in arm.get(k, [])])
diffs = [abs(a["confidence"] - b["confidence"]) for k in x86 for a, b in zip(x86[k], arm.get(k, []))]
correct = sum(1 for k in x86 if any(p["text"] == k[:-4] for p in arm.get(k, [])))
checks = [json.loads(l) for l in (out / "selftest-arm64.jsonl").read_text().splitlines() if l.strip()]
model_ok = any(c.get("check") == "model" and c.get("ok") for c in checks)
summary = {"images": len(x86), "text_agreement": f"{same_text}/{len(x86)}", "arm64_correct": f"{correct}/{len(x86)}",
           "max_confidence_diff": max(diffs) if diffs else None, "selftest_rc": selftest_rc,
           "selftest_model_ok": model_ok, "int8_models_loaded": int8_rc == 0,
           "seconds": {"root": t_root, "build": t_build, "install": t_install, "reads": t_read, "total": total}}
(out / "summary.json").write_text(json.dumps(summary, indent=2))
print(json.dumps(summary, indent=2))
ok = same_text == len(x86) and model_ok and int8_rc == 0 and (max(diffs) if diffs else 1) < 0.02
sys.exit(0 if ok else 1)
PY
