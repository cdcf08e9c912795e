"""The shipped second reader (manifest 'ocr_cct', fast-plate-ocr CCT-XS, MIT) and its place in the pipeline.

Real TFLite file on the real LiteRT interpreter; plates rendered with a fixed seed. The check against
the upstream ONNX runs only where ../shared and onnxruntime are present.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from firmware.recognition.config import RecognitionConfig
from firmware.recognition.manifest import ModelIntegrityError, default_model_dir, load_model_entry, read_manifest
from firmware.recognition.pipeline import Recognizer
from firmware.recognition.slot_ocr import SlotOCR, decode_slots
from firmware.synthetic.plate import degrade, random_plate_text, render_plate

REPO = Path(__file__).resolve().parents[1]
AL = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@pytest.fixture(scope="module")
def cct() -> SlotOCR:
    path, entry = load_model_entry(None, "ocr_cct")
    return SlotOCR(path, entry)


def test_manifest_entry_names_the_file_its_licence_card_and_calibration():
    entry = read_manifest()["models"]["ocr_cct"]
    assert entry["file"] == "plate_ocr_cct_float32.tflite"
    assert len(entry["sha256"]) == 64
    assert entry["source_sha256"] == "c1ae2ae031b10f8ab7ed6e3cdaf8d9c753477e299dbad3579c8f705a7d882134"
    assert entry["licence"].startswith("MIT")
    assert (default_model_dir() / entry["card"]).is_file()
    cal = entry["calibration"]
    assert 0.3 <= cal["t_ocr"] <= 4 and 0.3 <= cal["t_cct"] <= 4
    assert cal["fit"] > 0 and cal["held_out"] > 0
    assert entry["conversion_check"]["argmax_agree"] == entry["conversion_check"]["inputs"]
    notice = (REPO / "NOTICE").read_text()
    assert "plate_ocr_cct" in notice and "MIT" in notice


def test_interface_is_the_cards(cct):
    i = cct.interpreter.get_input_details()[0]
    o = cct.interpreter.get_output_details()[0]
    assert list(i["shape"]) == [1, 64, 128, 3] and i["dtype"] == np.uint8
    assert list(o["shape"]) == [1, 9, 37] and o["dtype"] == np.float32
    read = cct.read(np.full((30, 90, 3), 255, np.uint8))
    assert read.slot_probs.shape == (9, 37)
    assert np.allclose(read.slot_probs.sum(1), 1.0, atol=1e-4)
    assert read.text == decode_slots(read.slot_probs)


def test_a_tampered_file_is_refused(tmp_path):
    src = default_model_dir()
    for name in ("manifest.json", "plate_ocr_cct_float32.tflite"):
        shutil.copy(src / name, tmp_path / name)
    data = bytearray((tmp_path / "plate_ocr_cct_float32.tflite").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "plate_ocr_cct_float32.tflite").write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError):
        load_model_entry(tmp_path, "ocr_cct")


def test_decode_slots_reads_filled_slots_in_order():
    probs = np.zeros((9, 37))
    for i, k in enumerate([AL.index(c) for c in "7AB"] + [36] * 6):
        probs[i, k] = 1
    assert decode_slots(probs) == "7AB"
    probs[1] = 0
    probs[1, 36] = 1  # an empty slot between characters is skipped, not read as a space
    assert decode_slots(probs) == "7B"


def test_reads_most_clean_rendered_plates(cct):
    rng = np.random.default_rng(21)
    data = [(render_plate(t, rng, "white"), t) for t in (random_plate_text(rng) for _ in range(30))]
    data = [(degrade(img, rng, 0.2), t) for img, t in data]
    right = sum(cct.read(img).text == t for img, t in data)
    assert right >= 18, right  # a second opinion trained on real plates, not on our renderer


def test_recognizer_loads_it_by_default_and_not_when_switched_off():
    assert Recognizer.from_config(RecognitionConfig()).second is not None
    assert Recognizer.from_config(RecognitionConfig(second_reader=False)).second is None


def test_a_manifest_without_it_reads_with_one_reader(tmp_path, caplog):
    src = default_model_dir()
    manifest = json.loads((src / "manifest.json").read_text())
    manifest["models"].pop("ocr_cct")
    for entry in manifest["models"].values():
        shutil.copy(src / entry["file"], tmp_path / entry["file"])
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with caplog.at_level("WARNING"):
        rec = Recognizer.from_config(RecognitionConfig(model_dir=tmp_path))
    assert rec.second is None
    assert any(getattr(r, "event", None) == "second_reader_missing" for r in caplog.records)


def test_the_second_reader_is_asked_only_when_the_first_is_unsure():
    rng = np.random.default_rng(3)
    rec = Recognizer.from_config(RecognitionConfig(second_reader_below=0.0))
    plate = render_plate("ABC1234", rng, "white")
    h, w = plate.shape[:2]
    quad = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    frame = np.full((h * 3, w * 3, 3), 90, np.uint8)
    frame[h:2 * h, w:2 * w] = plate
    quad += np.array([w, h], np.float32)
    before = rec.second_asks
    text, _, _ = rec.read_crop(frame, quad)
    assert text == "ABC1234" and rec.second_asks == before  # plate-shaped: below 0 never asks
    rec.config = rec.config.model_copy(update={"second_reader_below": 1.0})
    text, _, conf = rec.read_crop(frame, quad)
    assert rec.second_asks == before + 1 and text == "ABC1234" and conf > 0.5


def test_tflite_matches_the_upstream_onnx(cct):
    ort = pytest.importorskip("onnxruntime")
    src = REPO.parent / "shared" / "models" / "fast-plate-ocr-cct-xs-v1" / "cct_xs_v1_global.onnx"
    if not src.is_file():
        pytest.skip("../shared model not present")
    sess = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(8)
    for _ in range(5):
        img = degrade(render_plate(random_plate_text(rng), rng), rng, 0.5)
        x = cct.prepare(img)
        ref = sess.run(None, {sess.get_inputs()[0].name: x})[0][0]
        got = cct.read(img).slot_probs
        assert np.abs(got - ref).max() < 1e-3
