"""ReadRecorder: GPS tag, hotlist match, images, commit, alert - and what happens when storage fails."""

import sqlite3
from datetime import datetime, timezone

import numpy as np

from firmware.alerts.alerter import Alerter, RecordingSink
from firmware.capture import ReadRecorder
from firmware.clock import ManualClock
from firmware.config import StorageConfig
from firmware.consensus import Sighting, Track
from firmware.records import Frame, Hit, PlateCandidate, Position
from firmware.storage.db import Writer, open_database


class FixedGps:
    def position_at(self, mono_ns):
        return Position("fix", 35.99, -78.9, fix_age_s=0.1)


class OneEntryList:
    def match(self, plate, state=None):
        return [Hit("ncic", "ABC123", None, "stolen vehicle", 0, "exact")] if plate == "ABC123" else []


class FlakyWriter:
    """The real writer, except that the first `failures` commits fail like a full disk."""

    def __init__(self, writer, failures):
        self.writer, self.failures = writer, failures

    def call(self, job):
        if self.failures > 0:
            self.failures -= 1
            raise sqlite3.OperationalError("database or disk is full")
        return self.writer.call(job)


def track(text, clock):
    image = np.full((720, 1280, 3), 90, np.uint8)
    frame = Frame("front", 5, image, clock.monotonic_ns(), clock.utc(), "gps")
    t = Track(1)
    t.add(Sighting(5, frame.mono_ns, PlateCandidate(text, 0.95, (0.95,) * len(text), (600, 400, 120, 60)), frame))
    return t


def recorder(tmp_path, writer, sink, events):
    return ReadRecorder(unit_id="u1", data_dir=tmp_path, writer=writer, clock=ManualClock(), gnss=FixedGps(),
                        hotlists=OneEntryList(), alerter=Alerter([sink]), storage_config=StorageConfig(),
                        min_free_mb=0, on_event=lambda kind, src, detail: events.append((kind, src)))


def test_read_is_tagged_matched_stored_then_alerted(tmp_path):
    conn = open_database(tmp_path)
    writer = Writer(conn).start()
    sink, events = RecordingSink(), []
    rec = recorder(tmp_path, writer, sink, events)
    read = rec.record_track(track("ABC123", ManualClock()), "front")
    writer.stop()
    row = conn.execute("SELECT plate, lat, position_method, crop_path, hit FROM reads").fetchone()
    assert tuple(row)[:3] == ("ABC123", 35.99, "fix") and row["hit"] == 1
    assert (tmp_path / row["crop_path"]).is_file()
    assert [a.read_id for a in sink.alerts] == [read.id]


def test_storage_failure_holds_reads_alerts_anyway_and_commits_later(tmp_path):
    conn = open_database(tmp_path)
    writer = Writer(conn).start()
    sink, events = RecordingSink(), []
    rec = recorder(tmp_path, FlakyWriter(writer, failures=2), sink, events)
    clock = ManualClock()
    first = rec.record_track(track("ABC123", clock), "front")      # fails: held back, but alerted
    assert len(sink.alerts) == 1 and conn.execute("SELECT count(*) FROM reads").fetchone()[0] == 0
    clock.advance(1)
    rec.record_track(track("XYZ789", clock), "front")               # the retry fails once more, this read commits
    assert rec.retry_unsaved() == 0                                  # storage is back: everything committed
    writer.stop()
    ids = {r[0] for r in conn.execute("SELECT id FROM reads")}
    assert first.id in ids and len(ids) == 2
    assert events == [("malfunction", "storage"), ("back_in_service", "storage")]
    assert rec.stats.store_failures == 2 and rec.stats.unsaved_dropped == 0
