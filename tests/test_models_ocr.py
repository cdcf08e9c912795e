"""The committed OCR models: integrity, reading rendered plates, int8 vs float, the read/eval CLI.

Real TFLite models on the real LiteRT interpreter; plates rendered with a fixed seed (the same set on
every run). The real-photo check runs only where ../shared is present.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from firmware.recognition.manifest import ModelIntegrityError, default_model_dir, load_model_entry, read_manifest
from firmware.recognition.ocr import PlateOCR, rectify
from firmware.synthetic.plate import STYLES, degrade, random_plate_text, render_plate

REPO = Path(__file__).resolve().parents[1]
SHARED_US = REPO.parent / "shared" / "data" / "plates" / "openalpr-us-dev"


@pytest.fixture(scope="module")
def ocr() -> PlateOCR:
    path, entry = load_model_entry(None, "ocr")
    return PlateOCR(path, entry)


@pytest.fixture(scope="module")
def ocr_float() -> PlateOCR:
    path, entry = load_model_entry(None, "ocr_float")
    return PlateOCR(path, entry)


def rendered_set(n: int = 60, seed: int = 2024, strength: float = 0.3) -> list[tuple[np.ndarray, str]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        text = random_plate_text(rng)
        style = [s for s in STYLES if s != "stacked"][i % (len(STYLES) - 1)]
        out.append((degrade(render_plate(text, rng, style), rng, strength), text))
    return out


def test_every_manifest_model_loads_and_matches_its_sha256():
    manifest = read_manifest()
    assert {"detector", "ocr", "ocr_float"} <= set(manifest["models"])
    for name, entry in manifest["models"].items():
        path, got = load_model_entry(None, name)
        assert path.is_file() and got["sha256"] == entry["sha256"]
    ocr_entry = manifest["models"]["ocr"]
    assert ocr_entry["alphabet"] == "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    path, _ = load_model_entry(None, "ocr")
    model_hw = list(PlateOCR(path, ocr_entry).interpreter.get_input_details()[0]["shape"][1:3])
    assert ocr_entry["input_size"] == model_hw and model_hw[0] == 48 and model_hw[1] >= 96  # the card's promise
    assert (default_model_dir() / ocr_entry["file"]).stat().st_size < 8 * 1024 * 1024


def test_a_changed_model_file_is_refused(tmp_path):
    src = default_model_dir()
    shutil.copyfile(src / "manifest.json", tmp_path / "manifest.json")
    entry = read_manifest(src)["models"]["ocr"]
    data = bytearray((src / entry["file"]).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / entry["file"]).write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="sha256"):
        load_model_entry(tmp_path, "ocr")
    with pytest.raises(ModelIntegrityError, match="not in"):
        load_model_entry(src, "no-such-model")
    (tmp_path / entry["file"]).unlink()
    with pytest.raises(ModelIntegrityError, match="missing"):
        load_model_entry(tmp_path, "ocr")


def test_reads_a_fixed_set_of_rendered_plates(ocr):
    data = rendered_set()
    reads = [ocr.read(img) for img, _ in data]
    correct = sum(r.text == t for r, (_, t) in zip(reads, data))
    assert correct / len(data) >= 0.85, [(r.text, t) for r, (_, t) in zip(reads, data) if r.text != t]
    for r in reads:
        assert len(r.char_confidences) == len(r.text)
        assert all(0.0 <= c <= 1.0 for c in r.char_confidences)
        assert r.confidence == pytest.approx(float(np.prod(r.char_confidences)), rel=1e-5)
    # confidence means something: right reads are on average surer than wrong ones
    right = [r.confidence for r, (_, t) in zip(reads, data) if r.text == t]
    wrong = [r.confidence for r, (_, t) in zip(reads, data) if r.text != t]
    if wrong:
        assert np.mean(right) > np.mean(wrong)


def test_reads_grayscale_ir_plates(ocr):
    rng = np.random.default_rng(77)
    data = [(render_plate(t, rng, "ir"), t) for t in (random_plate_text(rng) for _ in range(20))]
    correct = sum(ocr.read(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)).text == t for img, t in data)
    assert correct >= 16


def test_int8_agrees_with_float(ocr, ocr_float, capsys):
    data = rendered_set(n=60, seed=99, strength=0.6)
    a = [ocr.read(img).text for img, _ in data]
    b = [ocr_float.read(img).text for img, _ in data]
    agreement = float(np.mean([x == y for x, y in zip(a, b)]))
    with capsys.disabled():
        print(f"\nint8/float OCR agreement on {len(data)} rendered plates: {agreement:.3f}")
    assert agreement >= 0.9


def test_rectify_undoes_a_tilt(ocr):
    rng = np.random.default_rng(5)
    text = "7ABC123"
    plate = render_plate(text, rng, "white")
    h, w = plate.shape[:2]
    canvas = np.full((400, 600, 3), 90, np.uint8)
    quad = np.array([[150, 120], [430, 60], [450, 200], [170, 260]], np.float32)  # about 12 degrees, skewed
    m = cv2.getPerspectiveTransform(np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32), quad)
    warped = cv2.warpPerspective(plate, m, (600, 400))
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, (600, 400)) > 0
    canvas[mask] = warped[mask]
    crop = rectify(canvas, quad, ocr.input_h, ocr.input_w, pad=0.04)
    assert crop.shape == (ocr.input_h, ocr.input_w, 3)
    assert ocr.read(crop).text == text


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "firmware.cli", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


def test_read_cli_reports_unreadable_file_and_still_reads_the_rest(tmp_path):
    from firmware.synthetic.scene import render_scene

    rng = np.random.default_rng(11)
    image, plates = render_scene(rng, ["8KPT302"])
    cv2.imwrite(str(tmp_path / "a_scene.jpg"), image)
    (tmp_path / "b_broken.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    proc = _cli("read", str(tmp_path / "a_scene.jpg"), str(tmp_path / "b_broken.jpg"), str(tmp_path / "c_missing.png"),
                "--json")
    assert proc.returncode == 1
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [Path(d["image"]).name for d in lines] == ["a_scene.jpg", "b_broken.jpg", "c_missing.png"]
    assert "plates" in lines[0] and lines[0]["ms"] > 0
    assert lines[1]["error"] == "not a readable image" and lines[2]["error"] == "no such file"
    assert "b_broken.jpg: not a readable image" in proc.stderr


def test_eval_cli_on_a_hand_made_dataset(tmp_path):
    from firmware.synthetic.scene import render_scene

    rng = np.random.default_rng(3)
    for i, text in enumerate(["ABC1234", "7XYZ245", "4RTW889"]):
        image, plates = render_scene(rng, [text])
        quad = plates[0][1]
        x0, y0 = quad.min(axis=0)
        x1, y1 = quad.max(axis=0)
        cv2.imwrite(str(tmp_path / f"s{i}.jpg"), image)
        (tmp_path / f"s{i}.txt").write_text(f"s{i}.jpg\t{int(x0)}\t{int(y0)}\t{int(x1 - x0)}\t{int(y1 - y0)}\t{text}\n")
    proc = _cli("eval", "--dataset", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert summary["images"] == 3
    assert set(summary) >= {"correct", "accuracy", "detected", "detect_rate", "false_reads_per_image", "ms_median",
                            "ms_p95"}
    assert summary["correct"] <= summary["images"] and 0 <= summary["accuracy"] <= 1
    assert _cli("eval", "--dataset", str(tmp_path / "nope")).returncode == 2
    # OCR alone on the true boxes: every box is read (detected by definition), and a wrong label counts
    proc = _cli("eval", "--dataset", str(tmp_path), "--json", "--true-boxes", "--per-image")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert all(len(x["reads"]) == 1 for x in lines[:-1]) and lines[-1]["detected"] == 3
    assert lines[-1]["correct"] == sum(x["reads"] == x["truth"] for x in lines[:-1])
    label = tmp_path / "s0.txt"
    label.write_text(label.read_text().replace("ABC1234", "QQQ0000"))
    wrong = json.loads(_cli("eval", "--dataset", str(tmp_path), "--json", "--true-boxes").stdout.splitlines()[-1])
    assert wrong["correct"] == lines[-1]["correct"] - (lines[0]["reads"] == ["ABC1234"])


@pytest.mark.skipif(not SHARED_US.is_dir(), reason="../shared evaluation photos not present")
def test_ocr_on_real_plate_boxes_stays_above_its_floor(ocr):
    """Ground-truth boxes of the real US photos (measurement only): the OCR alone, no detector."""
    from firmware.recognition.evaluate import load_dataset

    ds = load_dataset(SHARED_US)
    correct = 0
    for truth in ds:
        image = cv2.imread(str(truth.image))
        (x, y, w, h), plate = truth.plates[0]
        correct += ocr.read(image[y:y + h, x:x + w]).text == plate
    assert correct / len(ds) >= 0.7


def test_reads_stacked_characters_inline(ocr):
    rng = np.random.default_rng(8)
    data = [(render_plate(t, rng, "stacked"), t) for t in (random_plate_text(rng) for _ in range(30))]
    correct = sum(ocr.read(img).text == t for img, t in data)
    assert correct >= 24


def test_bench_recognition_cli_gives_per_stage_medians_and_accuracy(tmp_path):
    from firmware.synthetic.scene import render_scene

    rng = np.random.default_rng(21)
    for i, text in enumerate(["5KRW302", "HXT4418"]):
        image, plates = render_scene(rng, [text])
        x0, y0 = plates[0][1].min(axis=0)
        x1, y1 = plates[0][1].max(axis=0)
        cv2.imwrite(str(tmp_path / f"b{i}.jpg"), image)
        (tmp_path / f"b{i}.txt").write_text(f"b{i}.jpg {int(x0)} {int(y0)} {int(x1 - x0)} {int(y1 - y0)} {text}\n")
    proc = _cli("bench", "recognition", "--images", str(tmp_path), "--threads", "1", "--json", "--passes", "2")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.splitlines()[-1])
    assert got["images"] == 2 and got["passes"] == 2 and got["threads"] == 1
    for stage in ("decode", "detect", "ocr"):
        assert got[f"{stage}_ms_median"] > 0
    assert got["total_ms_median"] >= got["detect_ms_median"]
    assert got["fps"] == pytest.approx(1000 / got["total_ms_median"], rel=0.02)
    assert got["crops_per_image"] >= 1 and got["zooms_per_image"] >= 0
    assert 0 <= got["accuracy"] <= 1
