"""Compare text-band geometries for reading the state, on rendered plates only (never photos).

Each render: a plate with a state's name in the header and (half the time) its slogan in the footer,
drawn with cv2's Hershey fonts in plain or script-like faces and printed colours, shrunk to a far
plate's width (60-160 px), blurred, JPEG-compressed, with a detector-like box around it (1.05-1.3x the
plate's height, a little off centre). For each geometry: the share of plates whose state is read right,
and of plates given a wrong state.

usage: python models/state/bands_check.py [--n 300] [--seed 5]    (the unit's venv)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import firmware.recognition.state_reader as sr  # noqa: E402
from firmware.recognition.manifest import load_model_entry  # noqa: E402
from firmware.recognition.state_names import SLOGANS, STATE_NAMES  # noqa: E402

GEOMETRIES = {
    "A (session 9 first rule)": {"header": (-0.05, -0.10, 1.05, 0.35), "footer": (-0.05, 0.72, 1.05, 1.10)},
    "B (serial left out)": {"header": (-0.05, -0.05, 1.05, 0.30), "footer": (-0.05, 0.75, 1.05, 1.05)},
}
FONTS = [cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
         cv2.FONT_HERSHEY_TRIPLEX]
INKS = [(40, 30, 200), (110, 40, 25), (25, 25, 25), (50, 120, 30), (40, 30, 130)]


def _text(img, text, font, colour, y0, y1, max_w):
    H, W = img.shape[:2]
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, 2)
    s = min(max_w * W / tw, (y1 - y0) * H / th)
    cv2.putText(img, text, (int((W - tw * s) / 2), int(y1 * H)), font, s, colour, max(1, int(2 * s)), cv2.LINE_AA)


def render(rng, widths=(60, 160)):
    state = sorted(STATE_NAMES)[int(rng.integers(len(STATE_NAMES)))]
    W, H = 480, 240
    plate = np.full((H, W, 3), rng.integers(215, 256, 3), np.uint8)
    name = STATE_NAMES[state]
    font = FONTS[int(rng.integers(len(FONTS)))]
    _text(plate, name.title() if rng.random() < 0.5 else name, font, INKS[int(rng.integers(len(INKS)))], 0.05,
          0.05 + rng.uniform(0.12, 0.2), 0.75)
    serial = "".join(rng.choice(list("ABCDEFGHJKLMNPRSTUVWXYZ0123456789"), 7))
    _text(plate, serial, cv2.FONT_HERSHEY_SIMPLEX, INKS[int(rng.integers(len(INKS)))], 0.3, 0.78, 0.9)
    if state in SLOGANS and rng.random() < 0.5:
        slogan = SLOGANS[state][0]
        _text(plate, slogan.title() if rng.random() < 0.5 else slogan, FONTS[int(rng.integers(3))],
              INKS[int(rng.integers(len(INKS)))], 0.84, 0.95, 0.7)
    pw = int(rng.uniform(*widths))
    ph = pw // 2
    scene = np.full((ph * 4, pw * 3, 3), rng.integers(20, 230, 3), np.uint8)
    x0, y0 = pw, int(ph * 1.5)
    scene[y0:y0 + ph, x0:x0 + pw] = cv2.resize(plate, (pw, ph), interpolation=cv2.INTER_AREA)
    scene = cv2.GaussianBlur(scene, (0, 0), rng.uniform(0.4, 1.2))
    ok, buf = cv2.imencode(".jpg", scene, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(50, 92))])
    scene = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    bh, bw = int(ph * rng.uniform(1.05, 1.3)), int(pw * rng.uniform(1.0, 1.12))
    box = (x0 - (bw - pw) // 2, y0 - (bh - ph) // 2 + int(0.05 * ph * rng.uniform(-1, 1)), bw, bh)
    return scene, box, state


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    path, entry = load_model_entry(None, "state_text")
    reader = sr.StateReader(path, entry)
    rng = np.random.default_rng(args.seed)
    scenes = [render(rng) for _ in range(args.n)]
    out = {}
    for name, bands in GEOMETRIES.items():
        sr.TEXT_BANDS = bands
        got = [(reader.read(img, box).decision.state, state) for img, box, state in scenes]
        out[name] = {"right": round(sum(g == s for g, s in got) / len(got), 3),
                     "wrong": round(sum(g is not None and g != s for g, s in got) / len(got), 3)}
    print(json.dumps({"n": args.n, "seed": args.seed, **out}, indent=1))


if __name__ == "__main__":
    main()
