"""Closer detector look at weak detections: window geometry, picking the same plate, the zoom model, gating."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from firmware.consensus import iou
from firmware.recognition.config import RecognitionConfig
from firmware.recognition.detector import Detection, PlateDetector
from firmware.recognition.manifest import load_model_entry
from firmware.recognition.pipeline import Recognizer
from firmware.recognition.detector import letterbox_scale
from firmware.recognition.zoom import (pick_refined, quad_width, refine, refine_first, shift_detection, zoom_plan,
                                      zoom_window)
from firmware.synthetic.scene import render_scene
from tests.recognition_fakes import GivenDetections

DEV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "plates" / "openalpr-us-dev"


def _quad(x, y, w, h):
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)


# ---------------------------------------------------------------- pure geometry

def test_window_is_centred_has_the_canvas_aspect_and_scales_the_plate_to_the_asked_width():
    x0, y0, x1, y1 = zoom_window((900, 500, 40, 20), (1080, 1920), (256, 512), 128)
    assert (x1 - x0, y1 - y0) == (160, 80)  # 40 px plate -> 128 of 512: window is 4 plates wide, 2:1
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == (920, 510)
    scale = 512 / (x1 - x0)
    assert 40 * scale == pytest.approx(128)


def test_window_at_the_frame_edge_is_shifted_not_clipped():
    for box in [(0, 0, 40, 20), (1880, 1060, 40, 20), (5, 1070, 30, 10)]:
        x0, y0, x1, y1 = zoom_window(box, (1080, 1920), (256, 512), 128)
        assert 0 <= x0 and 0 <= y0 and x1 <= 1920 and y1 <= 1080
        assert (x1 - x0) == round(box[2] * 4) and (y1 - y0) == round(box[2] * 2)
        x, y, w, h = box
        assert x0 <= x and y0 <= y and x + w <= x1 and y + h <= y1  # the plate stays inside the window


def test_window_larger_than_the_frame_is_the_frame():
    assert zoom_window((100, 50, 300, 150), (480, 640), (256, 512), 64) == (0, 0, 640, 480)


def test_pick_refined_takes_the_best_detection_centred_in_the_original_box():
    box = (100, 100, 60, 30)
    inside_weak = Detection((90, 95, 80, 40), 0.5, _quad(90, 95, 80, 40))
    inside_sure = Detection((85, 92, 90, 45), 0.9, _quad(85, 92, 90, 45))
    elsewhere = Detection((300, 100, 60, 30), 0.99, _quad(300, 100, 60, 30))
    assert pick_refined([inside_weak, elsewhere, inside_sure], box) is inside_sure
    assert pick_refined([elsewhere], box) is None
    assert pick_refined([], box) is None
    boxed_only = Detection((95, 100, 70, 30), 0.6, None)  # no quad: the box's centre counts
    assert pick_refined([boxed_only], box) is boxed_only


def test_shift_detection_moves_box_and_quad_and_clips_the_box():
    d = Detection((10, 20, 50, 25), 0.8, _quad(10, 20, 50, 25))
    moved = shift_detection(d, 100, 200, (1080, 1920))
    assert moved.box == (110, 220, 50, 25) and moved.score == 0.8
    np.testing.assert_allclose(moved.quad, _quad(110, 220, 50, 25))
    edge = shift_detection(d, 1900, 0, (1080, 1920))
    assert edge.box == (1910, 20, 10, 25)  # clipped to the frame; the quad keeps the plate's true corners
    assert edge.quad[1, 0] == pytest.approx(1960)


# ---------------------------------------------------------------- the shipped zoom model

@pytest.fixture(scope="module")
def detectors():
    full = PlateDetector(*load_model_entry(None, "detector"))
    zoom = PlateDetector(*load_model_entry(None, "detector_zoom"))
    return full, zoom


def test_zoom_model_is_the_detector_at_a_smaller_input(detectors):
    """Same weights: a 256x512 scene gives the same detections as the full model on it padded to 544x960."""
    full, zoom = detectors
    assert zoom.input_hw == (256, 512) and full.input_hw == (544, 960)
    rng = np.random.default_rng(5)
    image, plates = render_scene(rng, ["KLM4821", "8TRE052"], size=(256, 512), width_range=(60, 110))
    canvas = np.zeros((544, 960, 3), np.uint8)
    canvas[:256, :512] = image
    a, b = zoom.detect(image), [d for d in full.detect(canvas)]
    assert len(a) >= 2 and len(a) == len(b)
    for d in a:
        assert max(iou(d.box, e.box) for e in b) > 0.8


def test_refine_finds_a_far_plate_again_in_frame_coordinates(detectors):
    full, zoom = detectors
    rng = np.random.default_rng(11)
    image, plates = render_scene(rng, ["5GHK302"], size=(1080, 1920), width_range=(50, 60), max_tilt_deg=5)
    truth = plates[0][1]
    tbox = tuple(int(v) for v in (truth[:, 0].min(), truth[:, 1].min(),
                                  np.ptp(truth[:, 0]), np.ptp(truth[:, 1])))
    det = max(full.detect(image), key=lambda d: iou(d.box, tbox))
    assert iou(det.box, tbox) > 0.3
    again = refine(zoom, image, det, 128)
    assert again is not None and iou(again.box, tbox) > 0.5
    corner_err = np.linalg.norm(again.quad - truth, axis=1).mean() / np.linalg.norm(truth[3] - truth[0])
    assert corner_err < 0.35
    empty = Detection((200, 900, 50, 25), 0.45, _quad(200, 900, 50, 25))  # plain road: nothing there
    blank = np.full_like(image, 90)
    assert refine(zoom, blank, empty, 128) is None


@pytest.mark.skipif(not DEV.is_dir(), reason="../shared/data/plates/openalpr-us-dev not present")
def test_refined_boxes_fit_real_far_plates_better(detectors):
    """On the real photos, weak detections of a plate overlap it more after the closer look (0.34 -> 0.44)."""
    import cv2

    from firmware.recognition.evaluate import load_dataset

    full, zoom = detectors
    before, after = [], []
    for truth in load_dataset(DEV):
        image = cv2.imread(str(truth.image))
        tbox = truth.plates[0][0]
        for det in full.detect(image):
            if det.score >= 0.7 or iou(det.box, tbox) < 0.1:
                continue
            again = refine(zoom, image, det, 128)
            before.append(iou(det.box, tbox))
            after.append(iou(again.box, tbox) if again is not None else before[-1])
    assert len(before) >= 5
    assert np.mean(after) > np.mean(before) + 0.05, (np.mean(before), np.mean(after))


# ---------------------------------------------------------------- gating in the recognizer

class _RecordingZoom:
    """Stands in for the zoom model: records the windows it is shown, answers with one wider plate."""

    input_hw = (256, 512)

    def __init__(self):
        self.windows: list[tuple[int, int]] = []

    def detect(self, window):
        self.windows.append(window.shape[:2])
        h, w = window.shape[:2]
        return [Detection((w // 8, h // 4, 3 * w // 4, h // 2), 0.93, _quad(w // 8, h // 4, 3 * w // 4, h // 2))]


class _OCR:
    input_h, input_w, alphabet = 48, 128, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def __init__(self):
        self.crops = 0

    def read(self, crop):
        from firmware.recognition.ocr import OcrResult

        self.crops += 1
        return OcrResult("ABC123", (0.99,) * 6, 0.99 ** 6, None)


def test_only_detections_below_zoom_below_get_the_closer_look():
    image = np.zeros((720, 1280, 3), np.uint8)
    weak = Detection((600, 300, 40, 20), 0.5, _quad(600, 300, 40, 20))
    sure = Detection((100, 300, 120, 60), 0.95, _quad(100, 300, 120, 60))
    zoom = _RecordingZoom()
    rec = Recognizer(GivenDetections([sure, weak]), _OCR(), RecognitionConfig(early_stop=False), zoom)
    got = rec.recognize(image)
    assert zoom.windows == [(80, 160)]  # one look, at the weak 40 px plate scaled to 128 of 512
    assert rec.last_timings_ms["zooms"] == 1
    widths = sorted(c.box[2] for c in got)
    assert widths == [120, 120]  # the weak one now spans the zoom's wider plate (3/4 of a 160 px window)
    off = _RecordingZoom()
    rec = Recognizer(GivenDetections([sure, weak]), _OCR(), RecognitionConfig(early_stop=False, zoom_below=0.0), off)
    rec.recognize(image)
    assert off.windows == [] and rec.last_timings_ms["zooms"] == 0


def test_recognizer_loads_the_zoom_model_unless_switched_off():
    assert Recognizer.from_config(RecognitionConfig()).zoom_detector is not None
    assert Recognizer.from_config(RecognitionConfig(zoom_below=0.0)).zoom_detector is None


def test_a_model_folder_without_the_zoom_model_still_reads(tmp_path, caplog):
    import json
    import logging
    import shutil

    from firmware.recognition.manifest import default_model_dir

    src = default_model_dir()
    manifest = json.loads((src / "manifest.json").read_text())
    del manifest["models"]["detector_zoom"]
    for entry in manifest["models"].values():
        shutil.copy(src / entry["file"], tmp_path / entry["file"])
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with caplog.at_level(logging.WARNING):
        rec = Recognizer.from_config(RecognitionConfig(model_dir=tmp_path))
    assert rec.zoom_detector is None
    assert any(getattr(r, "event", "") == "zoom_model_missing" for r in caplog.records)


def test_closer_looks_are_bounded_per_frame():
    image = np.zeros((720, 1280, 3), np.uint8)
    weak = [Detection((100 + 150 * k, 300, 40, 20), 0.6 - 0.01 * k, _quad(100 + 150 * k, 300, 40, 20)) for k in range(5)]
    zoom = _RecordingZoom()
    rec = Recognizer(GivenDetections(weak), _OCR(), RecognitionConfig(early_stop=False, zoom_max_per_frame=2), zoom)
    assert len(rec.recognize(image)) == 5  # every detection is still read
    assert len(zoom.windows) == 2 and rec.last_timings_ms["zooms"] == 2


# ---------------------------------------------------------------- which look a detection gets (session 9)

def test_zoom_plan_weak_detections_get_the_closer_look_then_a_wider_one():
    cfg = RecognitionConfig()
    assert zoom_plan(0.5, 40.0, cfg) == (cfg.zoom_plate_width, cfg.zoom_plate_width / 2)
    assert zoom_plan(0.5, 500.0, cfg) == (cfg.zoom_plate_width, cfg.zoom_plate_width / 2)  # weak wins over large
    assert zoom_plan(cfg.zoom_below, 40.0, cfg) == ()  # at the bound: sure enough
    assert zoom_plan(0.5, 40.0, cfg.model_copy(update={"zoom_below": 0.0})) == ()


def test_zoom_plan_large_sure_detections_get_the_zoomed_out_look():
    cfg = RecognitionConfig()
    assert zoom_plan(0.95, cfg.zoom_out_above + 1, cfg) == (cfg.zoom_out_plate_width,)
    assert zoom_plan(0.95, cfg.zoom_out_above, cfg) == ()
    assert zoom_plan(0.95, 60.0, cfg) == ()
    assert zoom_plan(0.95, 900.0, cfg.model_copy(update={"zoom_out_above": 0.0})) == ()


def test_quad_width_is_the_mean_of_top_and_bottom_edges_or_the_box_width():
    tilted = Detection((0, 0, 100, 50), 0.9, np.array([[0, 0], [100, 0], [90, 40], [10, 40]], np.float32))
    assert quad_width(tilted) == pytest.approx(90.0)
    assert quad_width(Detection((5, 5, 64, 30), 0.9, None)) == 64.0


def test_letterbox_scale_fits_the_input_and_honours_the_cap():
    assert letterbox_scale((1080, 1920), (544, 960)) == pytest.approx(0.5)
    assert letterbox_scale((480, 640), (544, 960)) == pytest.approx(544 / 480)
    assert letterbox_scale((480, 640), (544, 960), max_scale=1.0) == 1.0


class _ScriptedZoom:
    """Stands in for the zoom model: finds nothing in the first `misses` windows, then a plate filling half of it."""

    input_hw = (256, 512)

    def __init__(self, misses: int):
        self.misses = misses
        self.windows: list[tuple[int, int]] = []

    def detect(self, window):
        self.windows.append(window.shape[:2])
        if len(self.windows) <= self.misses:
            return []
        h, w = window.shape[:2]
        return [Detection((w // 4, h // 4, w // 2, h // 2), 0.9, _quad(w // 4, h // 4, w // 2, h // 2))]


def test_refine_first_stops_at_the_first_look_that_finds_the_plate():
    image = np.zeros((720, 1280, 3), np.uint8)
    det = Detection((600, 300, 40, 20), 0.5, _quad(600, 300, 40, 20))
    zoom = _ScriptedZoom(misses=1)
    found, looks = refine_first(zoom, image, det, (128.0, 64.0, 32.0))
    assert looks == 2 and found is not None
    assert zoom.windows == [(80, 160), (160, 320)]  # 40 px -> 128 of 512, then -> 64 of 512: twice as wide
    assert refine_first(_ScriptedZoom(misses=9), image, det, (128.0, 64.0)) == (None, 2)


def test_a_large_close_detection_gets_the_zoomed_out_look_in_the_recognizer():
    image = np.zeros((1080, 1920, 3), np.uint8)
    close = Detection((700, 500, 400, 200), 0.95, _quad(700, 500, 400, 200))  # 200 px on the 544x960 input
    zoom = _RecordingZoom()
    rec = Recognizer(GivenDetections([close]), _OCR(), RecognitionConfig(), zoom)
    rec.recognize(image)
    assert zoom.windows == [(1080, 1920)]  # 400 px -> 80 of 512 wants a 2560 px window: the whole frame
    assert rec.last_timings_ms["zooms"] == 1
    off = _RecordingZoom()
    Recognizer(GivenDetections([close]), _OCR(), RecognitionConfig(zoom_out_above=0.0), off).recognize(image)
    assert off.windows == []


def test_zooming_out_reads_rendered_plates_too_close_for_the_detector(detectors):
    """Plates 520-680 px wide in a 1080p frame: the detector marks their middle; the zoomed-out look reads more."""
    from firmware.synthetic.plate import random_plate_text

    rng = np.random.default_rng(480)
    on = Recognizer.from_config(RecognitionConfig())
    off = Recognizer.from_config(RecognitionConfig(zoom_out_above=0.0))
    right = {"on": 0, "off": 0}
    for _ in range(8):
        text = random_plate_text(rng)
        image, _ = render_scene(rng, [text], size=(1080, 1920), width_range=(520, 680), max_tilt_deg=10)
        right["on"] += text in [c.text for c in on.recognize(image)]
        right["off"] += text in [c.text for c in off.recognize(image)]
    assert right["on"] >= right["off"] + 2, right
