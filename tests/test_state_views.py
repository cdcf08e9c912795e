"""The plate's state read on a vehicle's largest sightings and voted (issue 21): the pure vote, which
sightings a track keeps a view of, the cut around the plate, and the capture loop end to end into SQLite
(firmware/consensus.py vote_states / Track views, firmware/track_state.py, capture.CameraPipeline)."""

from __future__ import annotations

import itertools
import math
import sqlite3
from datetime import datetime, timezone

import numpy as np
import pytest

from firmware.alerts.alerter import Alerter, RecordingSink
from firmware.capture import CameraPipeline, ReadRecorder
from firmware.clock import ManualClock
from firmware.config import ConsensusConfig, StorageConfig, UnitConfig
from firmware.consensus import STATE_CONFIDENCE_CAP, ConsensusTracker, Sighting, Track, view_place, vote_states
from firmware.track_state import VIEW_MAX_BOX, plate_surroundings
from firmware.recognition.state import StateDecision
from firmware.records import Frame, Hit, PlateCandidate, Position
from firmware.storage.db import Writer, open_database

from capture_fakes import ListCamera

# ---------------------------------------------------------------------------------------------- the vote

STATES = (None, "TX", "OK")
CONFIDENCES = (0.0, 0.3, 0.75, 1.0)


def test_vote_over_every_answer_list_up_to_three_views():
    answers = list(itertools.product(STATES, CONFIDENCES))
    for n in range(0, 4):
        for combo in itertools.product(answers, repeat=n):
            got = vote_states(combo)
            named = {s for s, _ in combo if s}
            assert got.reads == n
            if len(named) > 1:
                assert (got.state, got.confidence, got.source, got.agreeing) == (None, 0.0, "conflict", 0), combo
            elif not named:
                assert (got.state, got.confidence, got.source, got.agreeing) == (None, 0.0, "none", 0), combo
            else:
                (state,) = named
                confs = [c for s, c in combo if s]
                assert got.state == state and got.source == "agree" and got.agreeing == len(confs)
                assert max(confs) - 1e-4 <= got.confidence <= max(max(confs), STATE_CONFIDENCE_CAP) + 1e-4
                assert got.confidence == pytest.approx(
                    max(max(confs), min(STATE_CONFIDENCE_CAP, 1 - math.prod(1 - c for c in confs))), abs=1e-4)
            for order in itertools.permutations(combo):                         # order never matters
                assert vote_states(order) == got
            assert vote_states(list(combo) + [(None, 0.9)]).state == got.state  # an unread view changes nothing
            assert vote_states(list(combo) + [(None, 0.9)]).confidence == got.confidence


def test_vote_worked_figures():
    assert vote_states([("TX", 0.6), ("TX", 0.5)]).confidence == 0.8
    assert vote_states([("TX", 0.9)] * 3).confidence == STATE_CONFIDENCE_CAP        # 0.999 capped
    assert vote_states([("TX", 1.0)]).confidence == 1.0                          # one sure answer keeps its figure
    assert vote_states([("TX", 0.7), (None, 0.0), ("TX", 0.4)]).confidence == 0.82
    assert vote_states([("TX", 0.99), ("CA", 0.01)]).state is None               # a weak dissent is still a dissent
    assert vote_states([]).source == "none"


def test_vote_agreement_never_lowers_and_a_second_state_always_empties():
    for a, b in itertools.product(np.linspace(0, 1, 11), repeat=2):
        one = vote_states([("AZ", a)]).confidence
        assert vote_states([("AZ", a), ("AZ", b)]).confidence >= one
        assert vote_states([("AZ", a), ("NV", b)]).state is None


@pytest.mark.parametrize("confidence,expected", [(None, 0.0), (float("nan"), 0.0), (-0.5, 0.0), (1.7, 1.0)])
def test_vote_clips_confidences_it_cannot_trust(confidence, expected):
    got = vote_states([("NY", confidence)])
    assert got.state == "NY" and got.confidence == expected


def test_vote_cap_is_a_parameter():
    assert vote_states([("TX", 0.8), ("TX", 0.8)], cap=0.9).confidence == 0.9
    assert vote_states([("TX", 0.95), ("TX", 0.8)], cap=0.9).confidence == 0.95   # never below the surest answer

# ---------------------------------------------------------------------------- which sightings keep a view


def test_view_place_keeps_the_largest_and_the_first_seen_on_a_tie():
    assert view_place([], 10, 3) == 0
    assert view_place([30, 20], 25, 3) == 1
    assert view_place([30, 20, 10], 5, 3) is None           # full and smaller than all
    assert view_place([30, 20, 10], 10, 3) is None          # a tie does not push out the earlier one
    assert view_place([30, 20, 10], 11, 3) == 2
    assert view_place([30, 20], 20, 3) == 2
    assert view_place([], 10, 0) is None


def _sighting(seq, w, h=None):
    return Sighting(seq, seq, PlateCandidate("ABC123", 0.9, (0.9,) * 6, (0, 0, w, h or w // 2)), payload=f"frame{seq}")


def test_a_track_keeps_views_of_its_largest_sightings_only_and_counts_what_it_lets_go():
    cut = []

    def view_of(payload, cand):
        cut.append(payload)
        return f"view of {payload}"

    track = Track(1)
    widths = [40, 60, 50, 120, 30, 80, 120, 100]
    for seq, w in enumerate(widths):
        track.add(_sighting(seq, w), 3, view_of)
    assert [s.candidate.box[2] for s in track.views] == [120, 120, 100]
    assert [s.frame_seq for s in track.views] == [3, 6, 7]                 # equal sizes: the earlier first
    assert all(s.view == f"view of frame{s.frame_seq}" for s in track.views)
    assert cut == ["frame0", "frame1", "frame2", "frame3", "frame5", "frame6", "frame7"]   # 30 px: never cut
    assert track.views_dropped == len(cut) - 3
    assert sum(1 for s in track.sightings if s.view is not None) == 3     # dropped views are let go


def test_a_view_that_cannot_be_cut_takes_no_place():
    track = Track(1)
    track.add(_sighting(0, 100), 2, lambda p, c: None)
    track.add(_sighting(1, 50), 2, lambda p, c: "ok")
    assert [s.frame_seq for s in track.views] == [1] and track.views_dropped == 0


def test_the_tracker_cuts_views_only_when_asked_and_not_after_a_track_is_emitted():
    tracker = ConsensusTracker(**ConsensusConfig(max_delay_s=0.5).model_dump())
    assert tracker.state_views == ConsensusConfig().state_views == 3
    cut = []

    def view_of(payload, cand):
        cut.append(payload)
        return payload

    def cand(w):
        return PlateCandidate("ABC123", 0.9, (0.9,) * 6, (100, 100, w, w // 2))

    tracker.update(0, 0, [cand(80)], payload="f0")                          # no view_of: nothing kept
    tracker.update(1, 100_000_000, [cand(84)], payload="f1", view_of=view_of)
    (emitted,) = tracker.update(2, 600_000_000, [cand(88)], payload="f2", view_of=view_of)   # overdue: a read
    assert [s.view for s in emitted.views] == ["f2", "f1"]
    tracker.update(3, 700_000_000, [cand(96)], payload="f3", view_of=view_of)   # absorbed, not cut
    assert cut == ["f1", "f2"]


def test_state_views_config_is_bounded():
    from pydantic import ValidationError

    for bad in (0, 9):
        with pytest.raises(ValidationError):
            UnitConfig.model_validate({"consensus": {"state_views": bad}})
    assert UnitConfig.model_validate({"consensus": {"state_views": 5}}).consensus.state_views == 5

# ------------------------------------------------------------------------------------- the cut around a plate


def test_the_cut_holds_the_box_and_its_margins_at_the_same_pixels():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (720, 1280, 3), np.uint8)
    box = (500, 300, 100, 50)
    view = plate_surroundings(image, box)
    x, y, w, h = view.box
    assert (w, h) == (100, 50)
    assert view.image.shape[:2] == (50 + 2 * 20, 100 + 2 * 10)              # 40 % of h above and below, 10 % of w
    assert np.array_equal(view.image[y:y + h, x:x + w], image[300:350, 500:600])
    assert np.array_equal(view.image, image[280:370, 490:610])
    image[:] = 0
    assert view.image.any()                                               # a copy: the frame can go


def test_the_cut_is_clipped_at_the_frame_and_the_box_follows():
    image = np.arange(200 * 300, dtype=np.uint32).reshape(200, 300, 1).repeat(3, 2).astype(np.uint16)
    view = plate_surroundings(image, (5, 190, 60, 30))                      # at the bottom left corner
    assert view.image.shape[:2] == (200 - 178, 5 + 60 + 6)
    x, y, w, h = view.box
    assert (x, y) == (5, 12)
    assert np.array_equal(view.image[y:y + 10, x:x + w], image[190:200, 5:65])
    assert plate_surroundings(image, (0, 0, 0, 10)) is None
    assert plate_surroundings(image, (400, 10, 20, 10)) is None               # wholly outside


def test_a_close_plate_is_shrunk_to_a_bounded_view():
    image = np.zeros((1080, 1920, 3), np.uint8)
    image[300:700, 400:1200] = 255                                           # an 800x400 plate, white
    view = plate_surroundings(image, (400, 300, 800, 400))
    x, y, w, h = view.box
    assert w <= VIEW_MAX_BOX[0] and h <= VIEW_MAX_BOX[1] and h == VIEW_MAX_BOX[1]
    assert view.image.nbytes <= 3 * (1.2 * VIEW_MAX_BOX[0]) * (1.8 * VIEW_MAX_BOX[1]) + 3 * 1000
    inside = view.image[y + 2:y + h - 2, x + 2:x + w - 2]
    assert inside.min() == 255 and view.image[: max(0, y - 2)].max() == 0   # the box still on the plate

# ------------------------------------------------------------------------- the capture loop, into SQLite


class _Gps:
    def position_at(self, mono_ns):
        return Position("fix", 35.99, -78.9, fix_age_s=0.1)


class _Hotlist:
    """An entry for ABC123 in Oklahoma; records the state each read is matched with."""

    def __init__(self):
        self.asked = []

    def match(self, plate, state=None):
        self.asked.append((plate, state))
        return [Hit("ncic", "ABC123", "OK", "stolen vehicle", 0, "exact")] if plate == "ABC123" else []


class ScriptedRecognizer:
    """Finds ABC123 at a scripted box in each frame (the plate's pixels painted with the frame's number
    + 1) and answers read_state by the sighting the view shows, so the test sees which views were read."""

    def __init__(self, sightings, answers):
        self.sightings = sightings            # per frame: (box, confidence)
        self.answers = answers                # frame index -> StateDecision | None | Exception
        self.asked = []                       # (frame index, box size) per read_state call

    def recognize(self, image):
        box, confidence = self.sightings[int(image[0, 0, 0])]
        return [PlateCandidate("ABC123", confidence, (confidence,) * 6, box)]

    def read_state(self, image, box):
        x, y, w, h = box
        plate = image[y:y + h, x:x + w, 1]
        assert plate.min() == plate.max() > 0, "the box must sit on the plate in the view"
        assert image[max(0, y - 2), x + w // 2, 1] == 0, "the view holds the plate's surroundings"
        index = int(plate[0, 0]) - 1
        self.asked.append((index, (w, h)))
        answer = self.answers.get(index, StateDecision(None, 0.0, "none"))
        if isinstance(answer, Exception):
            raise answer
        return answer


def _frames(sightings):
    now = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    frames = []
    for i, ((x, y, w, h), _) in enumerate(sightings):
        image = np.zeros((720, 1280, 3), np.uint8)
        image[0, 0, 0] = i
        image[y:y + h, x:x + w, 1] = i + 1
        frames.append(Frame("front", i, image, i * 66_000_000, now, "gps"))
    return frames


def run_vehicle(tmp_path, sightings, answers, state_views=3):
    """One vehicle through CameraPipeline and the real ReadRecorder into SQLite; returns what came out."""
    conn = open_database(tmp_path)
    writer = Writer(conn).start()
    hotlist = _Hotlist()
    recorder = ReadRecorder(unit_id="u1", data_dir=tmp_path, writer=writer, clock=ManualClock(), gnss=_Gps(),
                            hotlists=hotlist, alerter=Alerter([RecordingSink()]), storage_config=StorageConfig(),
                            min_free_mb=0, on_event=lambda *a: None)
    recognizer = ScriptedRecognizer(sightings, answers)
    tracker = ConsensusTracker(**ConsensusConfig(max_delay_s=30, state_views=state_views).model_dump())
    pipeline = CameraPipeline(ListCamera(_frames(sightings)), recognizer, tracker, recorder, ManualClock())
    pipeline.start()
    assert pipeline.done.wait(20)
    writer.stop()
    db = sqlite3.connect(tmp_path / "alpr.db")
    rows = db.execute("SELECT plate, state, state_confidence, frame_seq, frames, state_frames FROM reads").fetchall()
    db.close()
    return recognizer, recorder, pipeline, hotlist, rows


# a vehicle closing in: box sizes per frame; the surest serial (0.97) is on a middle-sized sighting
CLOSING = [((600, 400, 60, 30), 0.80), ((590, 400, 90, 45), 0.97), ((580, 400, 80, 40), 0.90),
           ((560, 380, 150, 75), 0.85), ((550, 370, 120, 60), 0.88), ((540, 360, 100, 50), 0.70)]


def test_the_state_is_read_on_the_largest_sightings_and_agreement_is_stored(tmp_path):
    answers = {3: StateDecision("OK", 0.6, "text"), 4: StateDecision("OK", 0.5, "text"),
               1: StateDecision("TX", 0.99, "text")}          # the best serial's frame would have said TX
    recognizer, recorder, pipeline, hotlist, rows = run_vehicle(tmp_path, CLOSING, answers)
    assert [i for i, _ in recognizer.asked] == [3, 4, 5]        # largest first, three of them, never frame 1
    assert [size for _, size in recognizer.asked] == [(150, 75), (120, 60), (100, 50)]
    assert rows == [("ABC123", "OK", 0.8, 1, 6, "[3, 4]")]        # 1 - 0.4 * 0.5; the evidence frame stays frame 1,
                                                                  # and the record says where the state was read
    assert hotlist.asked == [("ABC123", "OK")]
    assert recorder.stats.state_reads == 3 and recorder.stats.state_conflicts == 0 and pipeline.errors == 0


def test_two_different_states_store_no_state_and_reading_stops_there(tmp_path):
    answers = {3: StateDecision("OK", 0.9, "text"), 4: StateDecision("TX", 0.6, "text"),
               5: StateDecision("OK", 0.9, "text")}
    recognizer, recorder, pipeline, hotlist, rows = run_vehicle(tmp_path, CLOSING, answers)
    assert [i for i, _ in recognizer.asked] == [3, 4]            # nothing after a contradiction can change it
    assert rows == [("ABC123", None, None, 1, 6, None)]
    assert hotlist.asked == [("ABC123", None)]                   # matched without a state: no false "possible"
    assert recorder.stats.state_conflicts == 1


def test_unread_views_and_failures_leave_the_legible_one(tmp_path):
    answers = {3: RuntimeError("model failed"), 4: StateDecision(None, 0.0, "none"),
               5: StateDecision("OK", 0.7, "text")}
    recognizer, recorder, pipeline, hotlist, rows = run_vehicle(tmp_path, CLOSING, answers)
    assert rows == [("ABC123", "OK", 0.7, 1, 6, "[5]")] and pipeline.errors == 1   # the failed and the blank view
                                                                                   # are not its evidence
    assert recorder.stats.state_reads == 2


def test_nothing_legible_stores_null_and_one_view_reads_only_the_largest(tmp_path):
    recognizer, _, _, _, rows = run_vehicle(tmp_path, CLOSING, {}, state_views=1)
    assert [i for i, _ in recognizer.asked] == [3]
    assert rows == [("ABC123", None, None, 1, 6, None)]


def test_a_switched_off_reader_is_asked_once(tmp_path):
    recognizer, recorder, _, _, rows = run_vehicle(tmp_path, CLOSING, {3: None, 4: StateDecision("OK", 0.9, "text")})
    assert [i for i, _ in recognizer.asked] == [3] and recorder.stats.state_reads == 0
    assert rows == [("ABC123", None, None, 1, 6, None)]

# ------------------------------------------------------------------------ with the real header-text model


@pytest.fixture(scope="module")
def reader():
    from firmware.recognition.manifest import load_model_entry
    from firmware.recognition.state_reader import StateReader

    path, entry = load_model_entry(None, "state_text")
    return StateReader(path, entry)


def _scene(header, footer, width):
    from test_state_reader import plate_scene

    return plate_scene(header, footer=footer, width=width)


@pytest.mark.parametrize("header,footer,width", [("TEXAS", "THE LONE STAR STATE", 100), ("Arkansas", "", 200),
                                                 ("", "LAND OF LINCOLN", 140), ("ARIZONA", "", 600),
                                                 (" ", "", 360)])
def test_the_model_reads_a_view_as_it_reads_the_whole_frame(reader, header, footer, width):
    scene, box = _scene(header or " ", footer, width)
    view = plate_surroundings(scene, box)
    whole, cut = reader.read(scene, box).decision, reader.read(view.image, view.box).decision
    assert cut.state == whole.state
    assert abs(cut.confidence - whole.confidence) <= 0.05


def test_capture_reads_a_state_that_only_the_larger_sightings_show(tmp_path, reader):
    """IL's slogan under the serial is legible at 140 px and up, not at 80: the surest serial is read on
    the 80 px sighting, the state on the two larger ones."""
    sizes = [(80, 0.97), (140, 0.90), (200, 0.85)]
    scenes = [_scene(" ", "LAND OF LINCOLN", w) for w, _ in sizes]
    assert reader.read(*scenes[0]).decision.state is None                   # the best frame alone: no state
    now = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)

    class RealStateReading:
        def recognize(self, image):
            i = [s[0].shape for s in scenes].index(image.shape)
            return [PlateCandidate("ABC123", sizes[i][1], (sizes[i][1],) * 6, scenes[i][1])]

        def read_state(self, image, box):
            return reader.read(image, box).decision

    conn = open_database(tmp_path)
    writer = Writer(conn).start()
    recorder = ReadRecorder(unit_id="u1", data_dir=tmp_path, writer=writer, clock=ManualClock(), gnss=_Gps(),
                            hotlists=_Hotlist(), alerter=Alerter([]), storage_config=StorageConfig(),
                            min_free_mb=0, on_event=lambda *a: None)
    tracker = ConsensusTracker(**ConsensusConfig(max_delay_s=30, text_similarity=0.5).model_dump())
    frames = [Frame("front", i, s[0], i * 66_000_000, now, "gps") for i, s in enumerate(scenes)]
    pipeline = CameraPipeline(ListCamera(frames), RealStateReading(), tracker, recorder, ManualClock())
    pipeline.start()
    assert pipeline.done.wait(30)
    writer.stop()
    db = sqlite3.connect(tmp_path / "alpr.db")
    ((state, confidence, seq),) = db.execute("SELECT state, state_confidence, frame_seq FROM reads").fetchall()
    db.close()
    assert state == "IL" and confidence >= 0.9 and seq == 0 and pipeline.errors == 0


def test_a_switched_off_reader_stops_the_cutting_of_views(tmp_path):
    """recognition.read_state = false: the recogniser's read_state answers None; after the first vehicle
    no view is cut any more (the best frame is handed over, as before, and answered None at once)."""
    now = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    shapes = []

    class Off:
        def recognize(self, image):     # frames 0-2 one vehicle, 3-4 empty road, 5-7 another far from it
            i = int(image[0, 0, 0])
            if i in (3, 4):
                return []
            x = 100 if i < 3 else 900
            return [PlateCandidate("ABC123" if i < 3 else "XYZ789", 0.9, (0.9,) * 6, (x, 300, 100, 50))]

        def read_state(self, image, box):
            shapes.append(image.shape[:2])
            return None

    frames = []
    for i in range(8):
        image = np.zeros((720, 1280, 3), np.uint8)
        image[0, 0, 0] = i
        frames.append(Frame("front", i, image, i * 66_000_000, now, "gps"))
    conn = open_database(tmp_path)
    writer = Writer(conn).start()
    recorder = ReadRecorder(unit_id="u1", data_dir=tmp_path, writer=writer, clock=ManualClock(), gnss=_Gps(),
                            hotlists=_Hotlist(), alerter=Alerter([]), storage_config=StorageConfig(),
                            min_free_mb=0, on_event=lambda *a: None)
    tracker = ConsensusTracker(**ConsensusConfig(max_gap_frames=1, max_delay_s=30).model_dump())
    pipeline = CameraPipeline(ListCamera(frames), Off(), tracker, recorder, ManualClock())
    pipeline.start()
    assert pipeline.done.wait(20)
    writer.stop()
    assert shapes == [(90, 120), (720, 1280)]                     # a view, then the whole best frame
    assert recorder.stats.reads == 2 and recorder.stats.state_reads == 0


def test_the_pipeline_bench_times_the_state_per_vehicle_and_refuses_a_bad_bound():
    import json
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    run = [sys.executable, "-m", "firmware.cli", "bench", "pipeline", "--json"]
    proc = subprocess.run(run + ["--state-views", "2"], capture_output=True, text=True, cwd=repo, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["reads"] == 6 and out["state_views"] == 2
    assert len(out["state_views_per_vehicle"]) == 6 and all(1 <= n <= 2 for n in out["state_views_per_vehicle"])
    assert out["state_ms_per_vehicle_median"] > 0
    bad = subprocess.run(run + ["--state-views", "0"], capture_output=True, text=True, cwd=repo, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
