"""Purge on real SQLite files and real image files: what goes, what stays, and that it is really gone."""

import json
import logging
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from firmware.clock import ManualClock
from firmware.retention import service as service_mod
from firmware.retention.audit import verify_chain
from firmware.retention.bench import store_read
from firmware.retention.config import RetentionConfig
from firmware.retention.holds import add_hold, release_hold, renew_hold
from firmware.retention.purge import Purger
from firmware.retention.service import RetentionService
from firmware.storage.db import DB_NAME, Writer, connect, open_database, transaction

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
UNIT = "unit-0001"


def days_ago(d: float, now: datetime = NOW) -> datetime:
    return now - timedelta(days=d)


def make_purger(conn, data_dir, clock, **cfg):
    return Purger(RetentionConfig(**cfg), data_dir, UNIT, clock, run_job=lambda fn: transaction(conn, fn),
                  checkpoint=lambda: tuple(conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()))


def ids(conn):
    return {r[0] for r in conn.execute("SELECT id FROM reads")}


@pytest.fixture
def unit(tmp_path):
    conn = open_database(tmp_path)
    yield conn, tmp_path
    conn.close()


def test_purge_keeps_and_removes_by_the_rule(unit):
    conn, data = unit
    add = lambda *a, **k: transaction(conn, lambda c: store_read(c, data, *a, **k))
    young = add("YNG1111", days_ago(2), acked_at=days_ago(2))
    synced_old = add("SYN2222", days_ago(10), acked_at=days_ago(10), hit=True)
    unsynced_old = add("UNS3333", days_ago(10))
    ancient_unsynced = add("ANC4444", days_ago(95))
    ancient_synced = add("ANC5555", days_ago(95), acked_at=days_ago(94))
    held = add("HLD6666", days_ago(120), acked_at=days_ago(119))
    hold_id = transaction(conn, lambda c: add_hold(c, {
        "plate": "hld-6666", "start_at": days_ago(121), "end_at": days_ago(119), "case_number": "C1",
        "requesting_officer": "Det. A", "agency": "DPD", "statement_ref": "ALPR-1/1",
        "facts": "Vehicle seen leaving the scene of the robbery on 3 March", "parties": "State v. Doe, case 26-1"}, at=days_ago(30),
        unit_id=UNIT, user="custodian"))
    crop_of = {r[0]: data / r[1] for r in conn.execute("SELECT id, crop_path FROM reads")}

    dry = make_purger(conn, data, ManualClock(NOW)).run(dry_run=True)
    assert ids(conn) == {young, synced_old, unsynced_old, ancient_unsynced, ancient_synced, held}
    assert dry["reads"]["purged"] == 3 and dry["images_to_delete"] == 6

    report = make_purger(conn, data, ManualClock(NOW)).run()
    assert ids(conn) == {young, unsynced_old, held}
    assert report["reads"]["by_reason"] == {"within_local_retention": 1, "awaiting_sync": 1, "held": 1,
                                            "synced_and_expired": 1, "legal_max_age": 2}
    assert report["held"] == 1 and report["kept_by_hold"] == {hold_id: 1}
    assert report["lost_unsynced"] == 1
    assert report["images_deleted"] == 6
    assert report["purged_by_kind"] == {"reads": 3, "hits": 1, "outbox": 10, "images": 6, "orphan_images": 0,
                                        "audit": 0}
    for rid in (synced_old, ancient_unsynced, ancient_synced):
        assert not crop_of[rid].exists()
        assert conn.execute("SELECT count(*) FROM outbox WHERE record_id LIKE ?", (rid + "%",)).fetchone()[0] == 0
    for rid in (young, unsynced_old, held):
        assert crop_of[rid].exists()
    assert conn.execute("SELECT count(*) FROM hits").fetchone()[0] == 0
    loss = conn.execute("SELECT detail FROM events WHERE kind = 'data_loss'").fetchall()
    assert len(loss) == 1 and json.loads(loss[0][0])["read_ids"] == [ancient_unsynced]
    queued = conn.execute("SELECT payload FROM outbox WHERE kind = 'event' AND acked_at IS NULL").fetchall()
    assert [json.loads(p[0])["kind"] for p in queued] == ["data_loss"]  # the back office hears of the loss
    events = [r[0] for r in conn.execute("SELECT event FROM audit_log ORDER BY seq")]
    assert events == ["hold_add", "purge", "data_loss"]
    assert verify_chain(conn)["ok"]
    assert report["space"]["wal_bytes_after"] == 0 and report["space"]["wal_checkpoint"]["busy"] == 0


def test_released_and_expired_holds_stop_protecting(unit):
    conn, data = unit
    rid = transaction(conn, lambda c: store_read(c, data, "REL1234", days_ago(100), acked_at=days_ago(99)))
    form = {"plate": "REL1234", "start_at": days_ago(101), "end_at": days_ago(99), "case_number": "C2",
            "requesting_officer": "Det. B", "agency": "DPD", "statement_ref": "W-9", "kind": "warrant",
            "facts": "Vehicle seen leaving the scene of the robbery on 3 March", "parties": "State v. Doe, case 26-1"}
    hold_id = transaction(conn, lambda c: add_hold(c, form, at=days_ago(364), unit_id=UNIT, user="cust"))
    assert make_purger(conn, data, ManualClock(NOW)).run()["held"] == 1
    transaction(conn, lambda c: renew_hold(c, hold_id, at=days_ago(1), unit_id=UNIT, user="cust"))
    # a year after the first request, the renewal keeps it
    assert make_purger(conn, data, ManualClock(NOW + timedelta(days=10))).run()["held"] == 1
    transaction(conn, lambda c: release_hold(c, hold_id, at=NOW + timedelta(days=11), unit_id=UNIT, user="cust"))
    report = make_purger(conn, data, ManualClock(NOW + timedelta(days=12))).run()
    assert report["held"] == 0 and rid not in ids(conn)


class _EverythingFormatter(logging.Formatter):
    """Writes every attribute of the record, extras included: a plate anywhere in an event shows."""

    def format(self, record):
        return f"{record.levelname} {record.name} {record.getMessage()} {record.__dict__}"


def _all_bytes(folder: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in folder.rglob("*") if p.is_file()]


def test_after_purge_the_plate_is_nowhere_in_the_data_dir(unit):
    conn, data = unit
    log_file = data / "logs" / "app.log"
    log_file.parent.mkdir()
    handler = logging.FileHandler(log_file)
    handler.setLevel(logging.INFO)
    handler.setFormatter(_EverythingFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        gone, kept = "QZX7345", "KPT5018"
        for i in range(300):  # enough rows for the plate's pages to be interleaved with other data
            transaction(conn, lambda c: store_read(c, data, gone, days_ago(20 + i / 100), acked_at=days_ago(19),
                                                   hit=(i % 10 == 0)))
            transaction(conn, lambda c: store_read(c, data, f"OTH{i:04d}", days_ago(20 + i / 100),
                                                   acked_at=days_ago(19)))
        transaction(conn, lambda c: store_read(c, data, kept, days_ago(1), acked_at=days_ago(1)))
        # the plate is really there to begin with: the scan below can find it
        assert any(gone.encode() in b for _, b in _all_bytes(data))
        report = make_purger(conn, data, ManualClock(NOW)).run()
        assert report["reads"]["purged"] == 600
        handler.flush()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
    conn.close()  # a connection closing may touch the WAL; check the files as they rest
    found = [str(p) for p, b in _all_bytes(data) if gone.encode() in b]
    assert found == []
    assert any(kept.encode() in b for p, b in _all_bytes(data) if p.name == DB_NAME)
    assert "purge finished" in log_file.read_text()
    assert (data / DB_NAME).stat().st_size < 400_000  # incremental vacuum returned the space


def test_simulated_120_days_with_holds(unit):
    """A day's driving, a daily purge; the link goes down for a while; a hold comes, is renewed, released."""
    conn, data = unit
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    clock = ManualClock(start)
    held_ids, created, unsynced_since = set(), {}, {}
    hold_id = None
    offline = range(30, 45)  # days without coverage: nothing acknowledged
    for day in range(120):
        today = start + timedelta(days=day)
        for k in range(12):
            captured = today + timedelta(hours=k * 2)
            plate = "TGT0001" if k == 5 else f"P{day:03d}{k:02d}"
            acked = None if day in offline else captured + timedelta(minutes=3)
            rid = transaction(conn, lambda c: store_read(c, data, plate, captured, acked_at=acked, images=(k < 2)))
            created[rid] = captured
            if acked is None:
                unsynced_since[rid] = captured
            if plate == "TGT0001" and day <= 15:
                held_ids.add(rid)  # inside the hold's range (the hold arrives on day 6, before that day's purge)
        if day == 6:
            hold_id = transaction(conn, lambda c: add_hold(c, {
                "plate": "TGT0001", "start_at": start, "end_at": start + timedelta(days=15, hours=23),
                "case_number": "2026-77", "requesting_officer": "Det. C", "agency": "DPD",
                "statement_ref": "ALPR-1/77", "camera_id": "front",
                "facts": "Vehicle seen leaving the scene of the robbery on 3 March", "parties": "State v. Doe, case 26-1"}, at=today, unit_id=UNIT, user="cust"))
        if day == 60:
            transaction(conn, lambda c: renew_hold(c, hold_id, at=today, unit_id=UNIT, user="cust"))
        if day == 110:
            transaction(conn, lambda c: release_hold(c, hold_id, at=today, unit_id=UNIT, user="cust"))
        clock.advance(86400 - (clock.utc() - today).total_seconds())  # end of the day
        make_purger(conn, data, clock).run()
        now = clock.utc()
        present = ids(conn)
        for rid in present:
            age = now - created[rid]
            if rid in held_ids and day < 110:
                continue
            assert age < timedelta(days=90), "nothing unheld survives 90 days"
            if rid not in unsynced_since:
                assert age < timedelta(days=7), "synced reads leave after local_retention"
        if day < 110:
            assert held_ids <= present, "a held read was purged"
            assert len(held_ids) == min(day + 1, 16)
        for rid, since in unsynced_since.items():
            if now - since < timedelta(days=90):
                assert rid in present, "an unsynced read was purged before the legal maximum"
    assert not held_ids & ids(conn)  # released at day 110: older than 90 days, gone
    lost = sum(json.loads(r[0])["unsynced_reads_purged"] for r in
               conn.execute("SELECT detail FROM events WHERE kind = 'data_loss'"))
    assert lost == sum(1 for since in unsynced_since.values() if clock.utc() - since >= timedelta(days=90))
    assert lost > 0
    assert verify_chain(conn)["ok"]
    leftover = [p for p in (data / "images").rglob("*.jpg")]
    assert len(leftover) == 2 * sum(1 for _ in conn.execute("SELECT 1 FROM reads WHERE crop_path IS NOT NULL"))


def test_orphan_images_are_swept(unit):
    conn, data = unit
    rid = transaction(conn, lambda c: store_read(c, data, "ORP0001", days_ago(3), acked_at=days_ago(3)))
    day = days_ago(3).strftime("%Y/%m/%d")
    orphan = data / "images" / day / "deadbeef-0000-crop.jpg"
    orphan.write_bytes(b"orphan")
    fresh = data / "images" / NOW.strftime("%Y/%m/%d") / "cafe-crop.jpg"
    fresh.parent.mkdir(parents=True)
    fresh.write_bytes(b"being written")
    transaction(conn, lambda c: store_read(c, data, "FUT0001", NOW + timedelta(days=30), images=False))
    # a read 30 days ahead of the clock contradicts it: nothing is deleted until that is resolved
    refused = make_purger(conn, data, ManualClock(NOW)).run()
    assert refused["refused"] == "clock_suspect" and "30.0 days ahead" in refused["clock"]["reasons"][0]
    assert orphan.exists()
    # GPS time confirmed this clock: the read was stamped by a clock that ran fast, and is flagged so
    from firmware.retention.clock_watch import flag_future_reads
    assert transaction(conn, lambda c: flag_future_reads(c, NOW)) == 1
    report = make_purger(conn, data, ManualClock(NOW)).run()
    assert report["future_dated_reads"] == 1 and report["reads"]["by_reason"] == {"within_local_retention": 2}
    assert report["orphan_images"] == 1 and not orphan.exists() and fresh.exists()
    assert rid in ids(conn)


def test_audit_entries_purged_only_after_ack_and_retention(unit):
    conn, data = unit
    from firmware.retention.audit import append_audit

    old = NOW - timedelta(days=1200)
    for i in range(5):
        transaction(conn, lambda c: append_audit(c, unit_id=UNIT, event="login_ok", at=old, user=f"u{i}"))
    # the first three acknowledged by the back office
    conn.execute("UPDATE outbox SET acked_at = ? WHERE seq IN (SELECT seq FROM outbox WHERE kind = 'audit'"
                 " ORDER BY seq LIMIT 3)", (old.isoformat(),))
    report = make_purger(conn, data, ManualClock(NOW)).run()
    assert report["audit"] == {"purged": 3, "kept_past_retention": {"audit_awaiting_sync": 1}}
    assert conn.execute("SELECT min(seq) FROM audit_log").fetchone()[0] == 4
    result = verify_chain(conn)
    assert result["ok"], result["problems"]
    assert result["anchor_seq"] == 3


def test_service_runs_through_the_writer_and_stops(tmp_path, monkeypatch):
    conn = open_database(tmp_path)
    for i in range(50):
        transaction(conn, lambda c: store_read(c, tmp_path, f"SVC{i:04d}", days_ago(30), acked_at=days_ago(30)))
    writer = Writer(conn).start()
    monkeypatch.setattr(service_mod, "FIRST_PURGE_DELAY_S", 0.05)
    svc = RetentionService(RetentionConfig(purge_interval_s=10, purge_batch_size=7), tmp_path, writer, UNIT,
                           ManualClock(NOW))
    svc.start()
    for _ in range(2400):   # up to 2 min on a loaded machine; ends at the first run
        if svc.runs:
            break
        threading.Event().wait(0.05)
    svc.stop()
    assert svc.runs == 1 and svc.last_report["reads"]["purged"] == 50
    assert svc.last_report["jobs"] >= 50 // 7
    assert svc.purge_now(dry_run=True)["reads"]["purged"] == 0
    writer.stop()
    assert conn.execute("SELECT count(*) FROM reads").fetchone()[0] == 0


def test_stop_interrupts_between_jobs_and_the_next_purge_finishes(tmp_path):
    conn = open_database(tmp_path)
    for i in range(400):
        transaction(conn, lambda c: store_read(c, tmp_path, f"STP{i:04d}", days_ago(30), acked_at=days_ago(30),
                                               images=False))
    writer = Writer(conn).start()
    config = RetentionConfig(purge_interval_s=10, purge_batch_size=5, purge_pause_ratio=20)
    svc = RetentionService(config, tmp_path, writer, UNIT, ManualClock(NOW))
    result = {}
    worker = threading.Thread(target=lambda: result.update(svc.purge_now()))
    worker.start()
    reader = connect(tmp_path / DB_NAME, readonly=True)
    for _ in range(2400):   # stop once the purge is under way, however slow the machine
        if reader.execute("SELECT count(*) FROM reads").fetchone()[0] < 400:
            break
        threading.Event().wait(0.05)
    reader.close()
    svc.stop()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert result["interrupted"] and 0 < result["reads"]["purged"] < 400
    assert "space" not in result  # no vacuum after an interrupted run
    svc2 = RetentionService(config.model_copy(update={"purge_pause_ratio": 0.0, "purge_batch_size": 500}),
                            tmp_path, writer, UNIT, ManualClock(NOW))
    rest = svc2.purge_now()
    assert not rest["interrupted"] and rest["reads"]["purged"] == 400 - result["reads"]["purged"]
    writer.stop()
    assert conn.execute("SELECT count(*) FROM reads").fetchone()[0] == 0
    assert verify_chain(conn)["ok"]


def test_the_byte_search_would_catch_a_purge_without_secure_delete(tmp_path):
    """Control for the test above: the same search finds a plate that was only marked deleted."""
    conn = open_database(tmp_path)
    conn.execute("PRAGMA secure_delete = OFF")
    for i in range(100):
        transaction(conn, lambda c: store_read(c, tmp_path, "QZX7345", days_ago(20), acked_at=days_ago(19),
                                               images=False))
        transaction(conn, lambda c: store_read(c, tmp_path, f"OTH{i:04d}", days_ago(20), acked_at=days_ago(19),
                                               images=False))
    make_purger(conn, tmp_path, ManualClock(NOW)).run()
    conn.close()
    assert [p.name for p, b in _all_bytes(tmp_path) if b"QZX7345" in b] == [DB_NAME]
