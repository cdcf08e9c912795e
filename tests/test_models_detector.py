"""Plate detector: pure decoding, the shipped .tflite models on rendered scenes, int8 vs float32."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from firmware.recognition.detector import (GEO_SCALE, STRIDE, Detection, PlateDetector, autolevel, decode_maps,
                                          letterbox)
from firmware.synthetic.plate import render_plate
from firmware.synthetic.scene import compose_scene, render_scene
from firmware.consensus import iou

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
INT8 = MODELS / "plate_detector_int8.tflite"
FLOAT = MODELS / "plate_detector_float32.tflite"
DEV = ROOT.parent / "shared" / "data" / "plates" / "openalpr-us-dev"


def _maps_for(quads, hw=(96, 128), p=0.9):
    """Hand-made model output: probability p on each quad's inner cells, exact corner votes."""
    import cv2

    score = np.zeros(hw, np.float32)
    corners = np.zeros(hw + (8,), np.float32)
    for q in quads:
        c = q.mean(0)
        small = c + (q - c) * 0.5
        m = np.zeros(hw, np.uint8)
        cv2.fillPoly(m, [np.round((small - 1.5) / STRIDE).astype(np.int32)], 1)
        ys, xs = np.nonzero(m)
        score[ys, xs] = p
        centres = np.stack([xs * STRIDE + 1.5, ys * STRIDE + 1.5], 1)
        corners[ys, xs] = ((q[None] - centres[:, None]) / GEO_SCALE).reshape(-1, 8)
    return score, corners


def _box_of(q):
    x0, y0 = np.floor(q.min(0))
    x1, y1 = np.ceil(q.max(0))
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


# ---------------------------------------------------------------- pure decoding

def test_decode_empty_map_gives_nothing():
    score, corners = np.zeros((96, 128), np.float32), np.zeros((96, 128, 8), np.float32)
    assert decode_maps(score, corners, 1.0, (384, 512)) == []


def test_decode_recovers_tilted_quads_and_scales_to_image():
    q1 = np.array([[100, 100], [220, 120], [212, 175], [92, 155]], np.float32)  # ~10 degrees
    q2 = np.array([[300, 250], [420, 250], [420, 310], [300, 310]], np.float32)
    score, corners = _maps_for([q1, q2])
    dets = decode_maps(score, corners, scale=0.5, image_hw=(768, 1024))
    assert len(dets) == 2
    for q in (q1, q2):
        best = max(dets, key=lambda d: iou(d.box, _box_of(q * 2)))
        assert np.abs(best.quad - q * 2).max() < 1.0  # quads are in image pixels (1 / scale)
        assert best.quad.shape == (4, 2) and best.quad.dtype == np.float32
        assert iou(best.box, _box_of(q * 2)) > 0.9
        assert best.score == pytest.approx(0.9, abs=1e-5)


def test_decode_drops_weak_blobs_and_clips_to_image():
    q = np.array([[480, 10], [560, 10], [560, 50], [480, 50]], np.float32)  # runs past the right edge
    score, corners = _maps_for([q], p=0.35)
    assert decode_maps(score, corners, 1.0, (384, 512), threshold=0.3, min_score=0.4) == []
    score, corners = _maps_for([q], p=0.8)
    (d,) = decode_maps(score, corners, 1.0, (384, 512))
    x, y, w, h = d.box
    assert x + w <= 512 and y >= 0 and w > 0 and h > 0


def test_decode_drops_plates_too_narrow_to_read():
    q = np.array([[100, 100], [124, 100], [124, 112], [100, 112]], np.float32)  # 24 px wide at the input
    score, corners = _maps_for([q])
    assert len(decode_maps(score, corners, 1.0, (384, 512), min_width=16)) == 1
    assert decode_maps(score, corners, 2.0, (768, 1024), min_width=16) == []  # 12 px in a half-size image


def test_letterbox_keeps_aspect_top_left():
    img = np.full((1080, 1920, 3), 200, np.uint8)
    canvas, s = letterbox(img, (384, 512))
    assert canvas.shape == (384, 512, 3) and s == pytest.approx(512 / 1920)
    assert canvas[:287].min() == 200 and canvas[289:].max() == 0


def test_letterbox_caps_upscaling_of_small_frames():
    img = np.full((199, 300, 3), 200, np.uint8)
    canvas, s = letterbox(img, (544, 960))
    assert s == pytest.approx(544 / 199)  # uncapped: blown up to fill the input
    canvas, s = letterbox(img, (544, 960), max_scale=1.0)
    assert s == 1.0 and canvas.shape == (544, 960, 3)
    assert canvas[:199, :300].min() == 200 and canvas[199:].max() == 0 and canvas[:, 300:].max() == 0
    big = np.full((1080, 1920, 3), 200, np.uint8)
    assert letterbox(big, (544, 960), max_scale=1.0)[1] == pytest.approx(0.5)  # scaling down is never capped


def test_autolevel_stretches_dim_content_and_keeps_padding():
    rng = np.random.default_rng(3)
    canvas = np.zeros((384, 512, 3), np.uint8)
    canvas[:288] = rng.integers(60, 110, (288, 512, 3))  # dim, low contrast
    out = autolevel(canvas, (288, 512))
    assert out[:288].min() <= 5 and out[:288].max() >= 250
    assert out[288:].max() == 0
    flat = np.full((384, 512, 3), 90, np.uint8)
    assert np.array_equal(autolevel(flat, (384, 512)), flat)


# ---------------------------------------------------------------- scenes

def test_render_scene_labels_are_exact_and_deterministic():
    a, la = render_scene(np.random.default_rng(7), ["ABC123", "XYZ9876"])
    b, lb = render_scene(np.random.default_rng(7), ["ABC123", "XYZ9876"])
    assert a.shape == (720, 1280, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and [t for t, _ in la] == ["ABC123", "XYZ9876"]
    for (_, qa), (_, qb) in zip(la, lb):
        assert qa.shape == (4, 2) and np.array_equal(qa, qb)
        assert qa[1, 0] > qa[0, 0] and qa[3, 1] > qa[0, 1]  # TL, TR, BR, BL order


def test_compose_scene_with_no_plates():
    img, quads = compose_scene(np.random.default_rng(1), [], (384, 512))
    assert img.shape == (384, 512, 3) and quads == []


# ---------------------------------------------------------------- models

def _scenes(n=12, seed=2024):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        texts = ["ABC1234", "7XYZ123", "JKL555"][: 1 + i % 3]
        img, labels = render_scene(rng, texts, night=(i % 4 == 3))
        out.append((img, [q for _, q in labels]))
    return out


@pytest.fixture(scope="module")
def int8_detector():
    return PlateDetector(INT8, {}, threads=1)


@pytest.fixture(scope="module")
def scenes():
    return _scenes()


def test_manifest_entry_matches_shipped_files():
    entries = json.loads((MODELS / "detector" / "manifest_entry.json").read_text())
    for entry in entries.values():
        data = (MODELS / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data) < 4 * 1024 * 1024


def test_model_finds_rendered_plates(int8_detector, scenes):
    found = total = 0
    corner_err = []
    for img, quads in scenes:
        dets = int8_detector.detect(img)
        for q in quads:
            total += 1
            best = max(dets, key=lambda d: iou(d.box, _box_of(q)), default=None)
            if best is not None and iou(best.box, _box_of(q)) >= 0.3:
                found += 1
                h = np.linalg.norm(q[3] - q[0])
                corner_err.append(np.linalg.norm(best.quad - q, axis=1).mean() / h)
    assert found / total >= 0.85, (found, total)
    assert np.median(corner_err) < 0.35  # quads follow the plate, in units of plate height


def test_int8_agrees_with_float32(int8_detector, scenes):
    ref = PlateDetector(FLOAT, {}, threads=1)
    agree = total = 0
    for img, _ in scenes:
        a, b = int8_detector.detect(img), ref.detect(img)
        for d in b:
            total += 1
            agree += any(iou(d.box, e.box) >= 0.5 for e in a)
    assert total > 0 and agree / total >= 0.85, (agree, total)


def test_grayscale_and_bgra_inputs_and_bad_input(int8_detector, scenes):
    import cv2

    img, _ = scenes[0]
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    assert all(isinstance(d, Detection) for d in int8_detector.detect(gray))
    assert isinstance(int8_detector.detect(cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)), list)
    with pytest.raises(ValueError):
        int8_detector.detect(np.zeros((0, 0, 3), np.uint8))


def test_xnnpack_off_gives_the_same_answer(int8_detector, scenes):
    plain = PlateDetector(INT8, {}, threads=1, use_xnnpack=False)
    img, _ = scenes[1]
    a, b = int8_detector.detect(img), plain.detect(img)
    assert len(a) == len(b)
    for d in a:  # the same boxes; plates of near-equal score may swap places between kernels
        assert max(iou(d.box, e.box) for e in b) > 0.9


@pytest.mark.skipif(not DEV.is_dir(), reason="../shared/data/plates/openalpr-us-dev not present")
def test_detect_rate_on_real_photos(int8_detector):
    import cv2

    hits = n = 0
    for txt in sorted(DEV.glob("*.txt"))[::2]:  # every other photo keeps this test fast
        parts = txt.read_text().split()
        gt = tuple(int(v) for v in parts[1:5])
        dets = int8_detector.detect(cv2.imread(str(DEV / parts[0])))
        n += 1
        hits += any(iou(d.box, gt) >= 0.3 for d in dets)
    assert hits / n >= 0.5, (hits, n)  # floor, well below the measured rate in models/plate_detector.md


def test_close_up_plates_in_small_frames_are_found_whole_when_not_blown_up():
    """The detector learnt plates up to ~220 px on its input; a close-up in a 300x400 frame blown up 1.8x is not."""
    path = MODELS / "plate_detector_float32.tflite"
    fill, capped = PlateDetector(path, {}, threads=1), PlateDetector(path, {}, threads=1, max_upscale=1.0)
    rng = np.random.default_rng(31)
    whole = {"fill": 0, "capped": 0}
    n = 16
    for _ in range(n):
        img, quads = compose_scene(rng, [render_plate("ABC1234", rng)], (300, 400), width_range=(140.0, 300.0),
                                   max_tilt_deg=15.0)
        x0, y0 = quads[0].min(axis=0)
        x1, y1 = quads[0].max(axis=0)
        truth = (int(x0), int(y0), int(x1 - x0), int(y1 - y0))
        for name, det in (("fill", fill), ("capped", capped)):
            whole[name] += any(iou(d.box, truth) >= 0.5 for d in det.detect(img))
    # measured (seed 31): fill 0, capped 11 of 16; 100 scenes in 199x300-480x640 frames, plates 35-75 % of the
    # width: 1 vs 65 found whole, read 23 vs 80; far plates (8-30 %) 98 vs 100 found, read 66 vs 68
    assert whole["capped"] >= 0.5 * n and whole["capped"] >= whole["fill"] + 0.4 * n, whole
