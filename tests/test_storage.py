import json
import sqlite3
import threading
from datetime import datetime, timezone

import numpy as np
import pytest

from firmware.records import Hit, Position, Read
from firmware.storage.db import Writer, migrate, open_database
from firmware.storage.outbox import counts
from firmware.storage.reads import image_paths, record_event, save_read, write_jpeg

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


def make_read(read_id="r-1", hits=(), crop=None):
    return Read(id=read_id, unit_id="u1", camera_id="front", plate="ABC123", plate_raw="ABC-123", state="NC",
                confidence=0.93, char_confidences=(0.9, 0.95, 0.99, 0.9, 0.92, 0.97), frames=4,
                box=(10, 20, 120, 60), captured_at=NOW, first_seen_at=NOW, clock_source="gps", frame_seq=17,
                capture_mono_ns=123, position=Position("interpolated", 35.99, -78.9, 100.0, 12.5, 90.0, 0.9, 9, 3, 1,
                                                      0.25),
                crop_path=crop, hits=tuple(hits))


def test_migrations_are_applied_once_and_wal_is_on(tmp_path):
    conn = open_database(tmp_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2          # incremental
    versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
    assert versions == sorted(versions) and versions[0] == 1
    assert migrate(conn) == []                                             # idempotent
    conn.close()
    conn = open_database(tmp_path)
    assert [r[0] for r in conn.execute("SELECT version FROM schema_migrations")] == versions


def test_read_hits_and_outbox_commit_together(tmp_path):
    conn = open_database(tmp_path)
    hit = Hit("ncic", "A8C123", "NC", "stolen vehicle", 0, "equivalent", (1,))
    conn.execute("BEGIN")
    save_read(conn, make_read(hits=[hit], crop="images/x-crop.jpg"), NOW)
    conn.execute("COMMIT")
    row = conn.execute("SELECT * FROM reads").fetchone()
    assert row["plate"] == "ABC123" and row["position_method"] == "interpolated" and row["fix_age_s"] == 0.25
    assert json.loads(row["char_confidences"])[2] == 0.99 and row["hit"] == 1
    hit_row = conn.execute("SELECT * FROM hits").fetchone()
    assert hit_row["match"] == "equivalent" and json.loads(hit_row["positions"]) == [1]
    assert counts(conn) == {"hit": 1, "read": 1, "image": 1}
    order = [r[0] for r in conn.execute("SELECT kind FROM outbox ORDER BY priority, seq")]
    assert order == ["hit", "read", "image"]


def test_a_failed_transaction_leaves_nothing(tmp_path):
    conn = open_database(tmp_path)
    writer = Writer(conn).start()

    def job(c):
        save_read(c, make_read(), NOW)
        raise RuntimeError("power cut in the middle")

    with pytest.raises(RuntimeError):
        writer.call(job)
    writer.stop()
    assert conn.execute("SELECT count(*) FROM reads").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0


def test_writer_serialises_concurrent_producers(tmp_path):
    conn = open_database(tmp_path)
    writer = Writer(conn).start()

    def produce(prefix):
        for i in range(50):
            writer.call(lambda c, i=i: save_read(c, make_read(f"{prefix}-{i}"), NOW))

    threads = [threading.Thread(target=produce, args=(p,)) for p in "abcd"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.stop()
    assert conn.execute("SELECT count(*) FROM reads").fetchone()[0] == 200
    assert writer.jobs_done == 200


def test_duplicate_read_id_is_refused(tmp_path):
    conn = open_database(tmp_path)
    conn.execute("BEGIN")
    save_read(conn, make_read(), NOW)
    with pytest.raises(sqlite3.IntegrityError):
        save_read(conn, make_read(), NOW)
    conn.execute("ROLLBACK")


def test_events_are_stored_and_queued(tmp_path):
    conn = open_database(tmp_path)
    conn.execute("BEGIN")
    record_event(conn, "malfunction", "camera:front", {"reason": "stall"}, NOW)
    conn.execute("COMMIT")
    assert tuple(conn.execute("SELECT kind, source FROM events").fetchone()) == ("malfunction", "camera:front")
    assert counts(conn) == {"event": 1}


def test_jpeg_written_atomically_under_dated_folder(tmp_path):
    crop, overview = image_paths("abc", NOW)
    assert crop == "images/2026/05/01/abc-crop.jpg" and overview.endswith("abc-overview.jpg")
    size = write_jpeg(tmp_path, crop, np.zeros((20, 40, 3), np.uint8), 80)
    assert (tmp_path / crop).stat().st_size == size > 0
    assert not list(tmp_path.rglob("*.tmp"))


def test_unusable_data_dir_gives_a_clear_error(tmp_path):
    from firmware.storage.db import StorageError

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data dir should be")
    with pytest.raises(StorageError, match="cannot open database"):
        open_database(blocker / "data")


def test_a_read_stores_and_syncs_its_state_confidence_and_older_reads_have_none(tmp_path):
    from dataclasses import replace

    conn = open_database(tmp_path)
    save_read(conn, replace(make_read("r-s"), state="TX", state_confidence=0.93), NOW)
    save_read(conn, replace(make_read("r-n"), state=None), NOW)
    rows = dict(conn.execute("SELECT id, state_confidence FROM reads").fetchall())
    assert rows == {"r-s": 0.93, "r-n": None}
    payloads = {json.loads(p)["id"]: json.loads(p) for (p,) in
                conn.execute("SELECT payload FROM outbox WHERE kind = 'read'")}
    assert payloads["r-s"]["state"] == "TX" and payloads["r-s"]["state_confidence"] == 0.93
    assert payloads["r-n"]["state_confidence"] is None


def test_a_read_stores_and_syncs_the_frames_its_state_was_read_on(tmp_path):
    from dataclasses import replace

    conn = open_database(tmp_path)
    save_read(conn, replace(make_read("r-s"), state="TX", state_confidence=0.9, state_frames=(41, 44)), NOW)
    save_read(conn, replace(make_read("r-n"), state=None, state_frames=(41,)), NOW)   # no state: no evidence
    rows = dict(conn.execute("SELECT id, state_frames FROM reads").fetchall())
    assert rows == {"r-s": "[41, 44]", "r-n": None}
    payloads = {json.loads(p)["id"]: json.loads(p) for (p,) in
                conn.execute("SELECT payload FROM outbox WHERE kind = 'read'")}
    assert payloads["r-s"]["state_frames"] == [41, 44] and payloads["r-n"]["state_frames"] is None
