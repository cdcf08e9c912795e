"""Whole capture pipeline on the demo clip: decode, recognise, vote, the state per vehicle, record
(frames/s, ms per stage)."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import cv2

from firmware.cli import number
from firmware.frames.sources import IMAGE_SUFFIXES


def add_arguments(parser) -> None:
    parser.add_argument("--frames", type=Path, default=None, help="folder of frames (default: render the demo clip)")
    parser.add_argument("--threads", type=number(1, 8), default=1, help="interpreter threads")
    parser.add_argument("--state-views", type=number(1, 8), default=None, metavar="1-8",
                        help="sightings a vehicle's state is read on (default: consensus.state_views, 3)")
    parser.add_argument("--synchronous", choices=["NORMAL", "FULL"], default="FULL",
                        help="SQLite synchronous of the writer (the daemon runs FULL: a committed read survives a power cut)")


def run(args) -> dict:
    from firmware.alerts.alerter import Alerter
    from firmware.capture import ReadRecorder
    from firmware.clock import SystemClock
    from firmware.config import ConsensusConfig, StorageConfig
    from firmware.consensus import ConsensusTracker
    from firmware.demo import render_clip
    from firmware.hotlist.config import HotlistConfig
    from firmware.hotlist.service import HotlistService
    from firmware.recognition.config import RecognitionConfig
    from firmware.recognition.pipeline import Recognizer
    from firmware.records import Frame, Position
    from firmware.storage.db import Writer, open_database
    from firmware.track_state import plate_surroundings, read_track_state

    class NoGps:
        def position_at(self, mono_ns):
            return Position()

    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        folder = args.frames
        if folder is None:
            folder = tmp_dir / "clip"
            render_clip(folder)
        files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        clock = SystemClock()
        conn = open_database(tmp_dir / "data")
        conn.execute(f"PRAGMA synchronous = {args.synchronous}")
        writer = Writer(conn).start()
        hotlists = HotlistService(HotlistConfig(), tmp_dir / "data", clock, "bench")
        hotlists.start()
        recorder = ReadRecorder(unit_id="bench", data_dir=tmp_dir / "data", writer=writer, clock=clock, gnss=NoGps(),
                                hotlists=hotlists, alerter=Alerter([]), storage_config=StorageConfig(), min_free_mb=0,
                                on_event=lambda *a: None)
        recognizer = Recognizer.from_config(RecognitionConfig(threads=args.threads))
        consensus = ConsensusConfig(**({} if args.state_views is None else {"state_views": args.state_views}))
        tracker = ConsensusTracker(**consensus.model_dump())
        decode, recognize, vote_ms, record, commits, state_ms, state_views = [], [], [], [], [], [], []
        commit = recorder._commit

        def timed_commit(read):    # the writer round trip of one read (and its hits): where fsync shows
            t = time.perf_counter()
            try:
                return commit(read)
            finally:
                commits.append(time.perf_counter() - t)
        recorder._commit = timed_commit

        def read_state(track):   # once per vehicle, as capture.CameraPipeline does (timed apart from record)
            t = time.perf_counter()
            result = read_track_state(track, recognizer.read_state)
            state_ms.append(time.perf_counter() - t)
            state_views.append(result.asked)

        started = time.perf_counter()
        for seq, path in enumerate(files):
            t0 = time.perf_counter()
            image = cv2.imread(str(path))
            t1 = time.perf_counter()
            candidates = recognizer.recognize(image)
            t2 = time.perf_counter()
            frame = Frame("bench", seq, image, clock.monotonic_ns(), clock.utc(), "system")
            done = tracker.update(seq, frame.mono_ns, candidates, payload=frame,
                                  view_of=lambda f, c: plate_surroundings(f.image, c.box))
            t3 = time.perf_counter()
            for track in done:
                read_state(track)
            t4 = time.perf_counter()
            for track in done:
                recorder.record_track(track, "bench")
            t5 = time.perf_counter()
            decode.append(t1 - t0), recognize.append(t2 - t1), vote_ms.append(t3 - t2), record.append(t5 - t4)
        for track in tracker.flush():
            read_state(track)
            recorder.record_track(track, "bench")
        total = time.perf_counter() - started
        hotlists.stop()
        writer.stop()

    def median_ms(values):
        return round(statistics.median(values) * 1000, 2) if values else None

    return {"bench": "pipeline", "frames": len(files), "fps": round(len(files) / total, 2),
            "reads": recorder.stats.reads, "threads": args.threads,
            "ms_median": {"decode": median_ms(decode), "recognize": median_ms(recognize),
                          "consensus": median_ms(vote_ms), "record": median_ms(record)},
            "record_ms_max": round(max(record) * 1000, 2) if record else None, "synchronous": args.synchronous,
            "state_views": consensus.state_views, "state_ms_per_vehicle_median": median_ms(state_ms), "state_views_per_vehicle": state_views,
            "commit_ms_median": median_ms(commits), "commits": len(commits)}
