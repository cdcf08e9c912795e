"""Reading the plate's state from a frame: band geometry, colours, the real header-text model, and the
capture loop asking once per vehicle (firmware/recognition/state_reader.py, pipeline.read_state, capture.py)."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import cv2
import numpy as np
import pytest

from firmware.recognition.config import RecognitionConfig
from firmware.recognition.manifest import load_model_entry
from firmware.recognition.state import StateDecision
from firmware.recognition.state_reader import StateReader, colour_cues, cut, fit_line, ink_colour, to_input
from firmware.records import Frame, PlateCandidate

from capture_fakes import ListCamera

RED, NAVY, BLACK, WHITE = (40, 30, 200), (110, 40, 25), (25, 25, 25), (245, 245, 245)


@pytest.fixture(scope="module")
def reader() -> StateReader:
    path, entry = load_model_entry(None, "state_text")
    return StateReader(path, entry)


def plate_scene(header: str, header_colour=BLACK, serial_colour=BLACK, footer: str = "", footer_colour=BLACK,
                width: int = 360) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A grey scene with one white plate (header word, serial, footer) and its box, drawn with cv2 fonts."""
    h = width // 2
    plate = np.full((h, width, 3), WHITE, np.uint8)
    font = cv2.FONT_HERSHEY_DUPLEX
    (tw, th), _ = cv2.getTextSize(header, font, 1.0, 2)
    s = min(0.7 * width / tw, 0.14 * h / th)
    cv2.putText(plate, header, (int((width - tw * s) / 2), int(0.06 * h + th * s)), font, s, header_colour,
                max(1, int(2 * s)), cv2.LINE_AA)
    cv2.putText(plate, "7ABC123", (int(0.08 * width), int(0.72 * h)), cv2.FONT_HERSHEY_SIMPLEX, width / 190,
                serial_colour, max(2, width // 60), cv2.LINE_AA)
    if footer:
        (fw, fh), _ = cv2.getTextSize(footer, font, 1.0, 1)
        f = min(0.6 * width / fw, 0.08 * h / fh)
        cv2.putText(plate, footer, (int((width - fw * f) / 2), int(0.93 * h)), font, f, footer_colour,
                    max(1, int(2 * f)), cv2.LINE_AA)
    scene = np.full((h * 4, width * 3, 3), 90, np.uint8)
    x, y = width, int(h * 1.5)
    scene[y:y + h, x:x + width] = plate
    return scene, (x, y - h // 12, width, int(h * 1.17))


def test_cut_takes_fractions_of_the_box_and_clips_at_the_image():
    image = np.arange(100 * 200 * 3, dtype=np.uint8).reshape(100, 200, 3)
    assert cut(image, (50, 20, 100, 40), (0.0, 0.0, 1.0, 0.5)).shape == (20, 100, 3)
    assert cut(image, (0, 0, 100, 40), (-0.5, -0.5, 0.5, 0.5)).shape == (20, 50, 3)
    assert cut(image, (190, 90, 100, 40), (0.5, 0.5, 1.0, 1.0)).size == 0


def test_fit_line_keeps_aspect_and_pads_with_grey():
    out = fit_line(np.zeros((10, 40, 3), np.uint8), 48, 320)
    assert out.shape == (48, 320, 3)
    assert (out[:, :192] == 0).all() and (out[:, 192:] == 128).all()
    assert fit_line(np.zeros((10, 400, 3), np.uint8), 48, 320)[:, -1].max() == 0   # wider: squeezed to w
    assert (fit_line(np.zeros((0, 0, 3), np.uint8), 48, 320) == 128).all()
    assert fit_line(np.zeros((10, 40), np.uint8), 48, 320).shape == (48, 320, 3)
    x = to_input(out)
    assert x.shape == (1, 48, 320, 3) and x.min() >= -1.0 and x.max() <= 1.0


def _band(colour, ink=True):
    band = np.full((20, 100, 3), WHITE, np.uint8)
    if ink:
        cv2.putText(band, "Word", (5, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 2)
    return band


def test_ink_colour_is_relative_to_the_background():
    ra, rb = ink_colour(_band(RED))
    na, nb = ink_colour(_band(NAVY))
    ba, bb = ink_colour(_band(BLACK))
    assert ra > 20 and nb < -20 and abs(ba) < 3 and abs(bb) < 3
    warm = np.clip(_band(RED).astype(np.float32) * (0.8, 0.95, 1.1), 0, 255).astype(np.uint8)   # sodium light
    assert ink_colour(warm)[0] > 14
    # a cast colours the white background but not black print: black then reads bluish against it, one
    # reason the colour cue is off by default (RecognitionConfig.state_design_cue)
    dark = np.clip(_band(BLACK).astype(np.float32) * (0.8, 0.95, 1.1), 0, 255).astype(np.uint8)
    assert ink_colour(dark)[1] < 0
    assert ink_colour(_band(RED, ink=False)) is None
    assert ink_colour(np.zeros((0, 5, 3), np.uint8)) is None


def test_colour_cues_of_a_california_like_plate():
    scene, box = plate_scene("California", RED, NAVY)
    cues = colour_cues(scene, box)
    assert cues.header_a > 14 and cues.chars_b < -14 and cues.footer_a is None
    scene, box = plate_scene("TEXAS", BLACK, BLACK, "THE LONE STAR STATE", BLACK)
    cues = colour_cues(scene, box)
    assert abs(cues.header_a) < 5 and abs(cues.chars_b) < 5 and abs(cues.footer_a) < 5


def test_the_model_reads_header_words(reader):
    band = np.full((30, 200, 3), WHITE, np.uint8)
    cv2.putText(band, "ARIZONA", (10, 24), cv2.FONT_HERSHEY_DUPLEX, 0.9, NAVY, 2, cv2.LINE_AA)
    assert reader.read_text(band).upper().strip() == "ARIZONA"
    assert reader.read_text(np.full((30, 200, 3), 255, np.uint8)).strip() == ""


@pytest.mark.parametrize("header,footer,state", [
    ("TEXAS", "THE LONE STAR STATE", "TX"), ("ARIZONA", "GRAND CANYON STATE", "AZ"),
    ("Arkansas", "", "AR"), ("", "LAND OF LINCOLN", "IL"), ("", "", None),
])
def test_state_from_a_rendered_plate(reader, header, footer, state):
    scene, box = plate_scene(header or " ", footer=footer)
    got = reader.read(scene, box)
    assert got.decision.state == state
    assert (got.decision.confidence >= 0.8) if state else got.decision.confidence == 0.0


def test_design_cue_only_when_asked(reader):
    scene, box = plate_scene(" ", RED, NAVY)
    cv2.rectangle(scene, (box[0] + box[2] // 3, box[1] + box[3] // 6), (box[0] + 2 * box[2] // 3, box[1] + box[3] // 4),
                  RED, -1)   # a red header band where no word is read
    assert reader.read(scene, box).decision.state is None
    assert reader.read(scene, box, design_cue=True).decision == StateDecision("CA", 0.7, "design")


def test_recognizer_reads_state_only_when_switched_on():
    from firmware.recognition.pipeline import Recognizer

    scene, box = plate_scene("TEXAS")
    on = Recognizer.from_config(RecognitionConfig())
    assert on.read_state(scene, box).state == "TX"
    off = Recognizer.from_config(RecognitionConfig(read_state=False))
    assert off.state_reader is None and off.read_state(scene, box) is None


class _StateRecognizer:
    """A recogniser that finds the same plate in every frame and says what state reading would answer."""

    def __init__(self, answer):
        self.answer = answer
        self.state_calls = 0

    def recognize(self, image):
        return [PlateCandidate("7ABC123", 0.95, (0.99,) * 7, (10, 10, 120, 60))]

    def read_state(self, image, box):
        self.state_calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class _Recorder:
    def __init__(self):
        from firmware.capture import CaptureStats

        self.stats = CaptureStats()
        self.tracks = []

    def record_track(self, track, camera_id):
        self.tracks.append(track)


def _run_pipeline(answer, frames=4):
    from firmware.capture import CameraPipeline
    from firmware.consensus import ConsensusTracker

    now = datetime.now(timezone.utc)
    images = [Frame("front", i, np.zeros((120, 200, 3), np.uint8), i * 66_000_000, now, "test") for i in range(frames)]
    recognizer, recorder = _StateRecognizer(answer), _Recorder()

    class _Clock:
        def monotonic_ns(self):
            return frames * 66_000_000

    tracker = ConsensusTracker(max_gap_frames=3, max_delay_s=10, min_frames=1, iou_threshold=0.3, text_similarity=0.7)
    pipeline = CameraPipeline(ListCamera(images), recognizer, tracker, recorder, _Clock())
    pipeline.start()
    assert pipeline.done.wait(10)
    return recognizer, recorder, pipeline


def test_capture_reads_the_state_once_for_a_vehicle_seen_in_one_frame():
    recognizer, recorder, pipeline = _run_pipeline(StateDecision("TX", 0.93, "text"))
    (track,) = recorder.tracks
    assert recognizer.state_calls == 1
    assert (track.best.candidate.state, track.best.candidate.state_confidence) == ("TX", 0.93)


@pytest.mark.parametrize("answer", [StateDecision(None, 0.0, "none"), None, RuntimeError("model failed")])
def test_capture_keeps_the_read_without_a_state_when_none_is_legible_or_reading_fails(answer):
    recognizer, recorder, pipeline = _run_pipeline(answer)
    (track,) = recorder.tracks
    assert track.best.candidate.state is None and track.best.candidate.state_confidence is None
    assert pipeline.errors == (1 if isinstance(answer, Exception) else 0)


def test_spotting_adds_matches_from_the_columns_and_agrees_with_the_text(reader):
    scene, box = plate_scene("TEXAS", footer="THE LONE STAR STATE")
    plain = reader.read(scene, box)
    spotted = reader.read(scene, box, spot_floor=0.5)
    assert len(spotted.matches) > len(plain.matches)
    assert spotted.decision.state == plain.decision.state == "TX"
    assert reader.read(*plate_scene(" "), spot_floor=0.5).decision.state is None


def test_recognizer_passes_the_spot_floor_and_zero_switches_spotting_off():
    from firmware.recognition.pipeline import Recognizer

    seen = []

    class Recording:
        def read(self, image, box, design_cue=False, spot_floor=None):
            seen.append((design_cue, spot_floor))
            from firmware.recognition.state_reader import StateRead

            return StateRead(StateDecision(None, 0.0, "none"), {}, (), None)

    for floor, expected in ((0.5, 0.5), (0.0, None)):
        r = Recognizer(None, None, RecognitionConfig(state_spot_floor=floor), state_reader=Recording())
        r.read_state(np.zeros((10, 10, 3), np.uint8), (0, 0, 5, 5))
        assert seen[-1] == (False, expected)


def test_read_cli_gives_each_plate_its_state(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    scene, _ = plate_scene("TEXAS", footer="THE LONE STAR STATE", width=240)
    cv2.imwrite(str(tmp_path / "texas.png"), scene)
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-m", "firmware.cli", "read", str(tmp_path / "texas.png"), "--json"],
                          capture_output=True, text=True, cwd=repo, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (plate,) = json.loads(proc.stdout.splitlines()[-1])["plates"]
    assert plate["text"] == "7ABC123" and plate["state"] == "TX" and 0.8 <= plate["state_confidence"] <= 1.0
