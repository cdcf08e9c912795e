"""Nothing outlives the purge: alert files, the log's alert line, expired manual hotlist entries."""

import json
import logging
from datetime import datetime, timedelta, timezone

from firmware.alerts.alerter import Alerter, LogSink, RecordingSink, alert_for
from firmware.alerts.files import alert_files, append_alert, keep_line, purge_alert_files
from firmware.clock import ManualClock, iso_utc
from firmware.hotlist.manual import add_manual, manual_entries
from firmware.records import Hit, Read
from firmware.retention.audit import verify_chain
from firmware.retention.bench import store_read
from firmware.retention.config import RetentionConfig
from firmware.retention.purge import Purger
from firmware.storage.db import open_database, transaction

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
UNIT = "unit-0001"


def purger(conn, data, now, **cfg):
    return Purger(RetentionConfig(**cfg), data, UNIT, ManualClock(now), run_job=lambda fn: transaction(conn, fn),
                  checkpoint=lambda: tuple(conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()))


def alert_line(read_id, plate, captured):
    return json.dumps({"read_id": read_id, "plate": plate, "captured_at": iso_utc(captured), "hits": []})


def test_keep_line_rule():
    cutoff = iso_utc(NOW - timedelta(days=7))
    assert keep_line(alert_line("a", "P1", NOW - timedelta(days=30)), {"a"}, cutoff)
    assert not keep_line(alert_line("b", "P2", NOW - timedelta(days=30)), {"a"}, cutoff)
    assert keep_line(alert_line("c", "P3", NOW), set(), cutoff)  # young: its read may still be committing
    assert not keep_line('{"read_id": "x", "plate": "TORN', set(), cutoff)


def test_sink_rotates_and_purge_drops_the_lines_of_purged_reads_only(tmp_path):
    conn = open_database(tmp_path)
    old = NOW - timedelta(days=10)
    gone = transaction(conn, lambda c: store_read(c, tmp_path, "GONE111", old, acked_at=old))
    held = transaction(conn, lambda c: store_read(c, tmp_path, "KEPT222", old))          # unsynced: stays
    young = transaction(conn, lambda c: store_read(c, tmp_path, "YOUNG33", NOW, acked_at=NOW))
    current = tmp_path / "alerts.jsonl"
    for rid, plate, at in ((gone, "GONE111", old), (held, "KEPT222", old)):
        append_alert(current, alert_line(rid, plate, at), NOW, rotate_bytes=10)          # each rotates
    append_alert(current, alert_line(young, "YOUNG33", NOW), NOW - timedelta(seconds=1), rotate_bytes=10_000)
    append_alert(current, alert_line("never-stored", "LOST444", old), NOW, rotate_bytes=10_000)
    assert len(alert_files(tmp_path)) == 3  # two rotated (same stamp, never over each other) + the current one

    report = purger(conn, tmp_path, NOW).run()
    assert report["alert_files"]["lines_purged"] == 2
    text = "".join(p.read_text() for p in alert_files(tmp_path))
    assert "KEPT222" in text and "YOUNG33" in text
    assert "GONE111" not in text and "LOST444" not in text
    for path in tmp_path.rglob("*"):
        if path.is_file():  # the database and its WAL too: secure_delete and the TRUNCATE checkpoint
            assert b"GONE111" not in path.read_bytes(), path
    assert verify_chain(conn)["ok"]
    conn.close()


def test_a_line_appended_while_the_purge_asks_the_database_is_kept(tmp_path):
    old = NOW - timedelta(days=30)
    path = tmp_path / "alerts.jsonl"
    append_alert(path, alert_line("r-old", "OLD1111", old), NOW)

    def existing(ids):
        append_alert(path, alert_line("r-new", "NEW2222", NOW), NOW)  # capture alerts meanwhile
        return set()

    out = purge_alert_files(tmp_path, existing, iso_utc(NOW - timedelta(days=7)))
    assert out["lines_purged"] == 1
    assert [json.loads(l)["read_id"] for l in path.read_text().splitlines()] == ["r-new"]


def test_log_alert_line_has_no_plate(caplog):
    now = datetime.now(timezone.utc)
    hit = Hit("stolen", "PLT9876", None, "stolen vehicle", 10, "exact")
    read = Read(id="r1", unit_id="u", camera_id="front", plate="PLT9876", plate_raw="PLT9876", state=None,
                confidence=0.9, char_confidences=(0.9,) * 7, frames=3, box=(1, 2, 3, 4), captured_at=now,
                first_seen_at=now, clock_source="system", frame_seq=1, capture_mono_ns=1, hits=(hit,))
    with caplog.at_level(logging.INFO):
        Alerter([LogSink(), RecordingSink()]).alert(alert_for(read, [hit]))
    records = [r for r in caplog.records if getattr(r, "event", None) == "alert.hit"]
    assert len(records) == 1 and records[0].read_id == "r1"
    assert "PLT9876" not in records[0].getMessage() and "PLT9876" not in json.dumps(records[0].__dict__, default=str)


def test_expired_manual_entries_leave_after_the_grace_period_audited(tmp_path):
    conn = open_database(tmp_path)
    added = NOW - timedelta(days=40)
    entry = transaction(conn, lambda c: add_manual(c, plate="MAN5555", state="NC", reason="burglary suspect vehicle",
                                                   user="det1", at=added, unit_id=UNIT, days=30))
    keep = transaction(conn, lambda c: add_manual(c, plate="MAN6666", state="NC", reason="missing person vehicle",
                                                  user="det1", at=NOW - timedelta(days=5), unit_id=UNIT, days=30))
    # expired 10 days ago: a 14-day grace keeps it, a 7-day grace deletes it
    assert purger(conn, tmp_path, NOW, manual_entry_grace_days=14).run()["manual_entries_deleted"] == 0
    assert purger(conn, tmp_path, NOW, manual_entry_grace_days=7).run(dry_run=True)["manual_entries_deleted"] == 1
    assert {e["id"] for e in manual_entries(conn, at=NOW, include_expired=True)} == {entry["id"], keep["id"]}
    report = purger(conn, tmp_path, NOW, manual_entry_grace_days=7).run()
    assert report["manual_entries_deleted"] == 1
    assert {e["id"] for e in manual_entries(conn, at=NOW, include_expired=True)} == {keep["id"]}
    audit = conn.execute("SELECT user, detail FROM audit_log WHERE event = 'hotlist.manual.expired_deleted'").fetchall()
    assert len(audit) == 1 and audit[0][0] == "system"
    assert [e["plate"] for e in json.loads(audit[0][1])["entries"]] == ["MAN5555"]
    assert conn.execute("SELECT mode FROM hotlist_versions ORDER BY version DESC LIMIT 1").fetchone()[0] == "manual-remove"
    assert verify_chain(conn)["ok"]
    conn.close()
