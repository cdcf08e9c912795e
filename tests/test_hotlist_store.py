"""Hotlists in a real SQLite file: versions, incremental loads, audit, historical hits, manual entries."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone

import pytest

from firmware.clock import ManualClock, iso_utc
from firmware.hotlist.config import HotlistConfig
from firmware.hotlist.service import HotlistService
from firmware.hotlist.manual import add_manual, extend_manual, manual_entries, remove_manual
from firmware.hotlist.store import HotlistError, import_hotlist, list_rows
from firmware.storage.db import open_database, transaction

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def db(tmp_path):
    conn = open_database(tmp_path)
    yield conn
    conn.close()


def load(conn, data: bytes, mode="replace", name="agency", at=T0, **kw):
    return transaction(conn, lambda c: import_hotlist(c, data, name=name, mode=mode, at=at, unit_id="u1",
                                                      user="admin", **kw))


def insert_read(conn, read_id, plate, state=None, at=T0):
    conn.execute(
        "INSERT INTO reads (id, unit_id, camera_id, plate, plate_raw, state, confidence, char_confidences, frames,"
        " box, captured_at, first_seen_at, clock_source, frame_seq, created_at) VALUES"
        " (?, 'u1', 'front', ?, ?, ?, 0.9, '[]', 3, '[0,0,10,10]', ?, ?, 'test', 1, ?)",
        (read_id, plate, plate, state, iso_utc(at), iso_utc(at), iso_utc(at)))


def plates(conn, name="agency"):
    return sorted(r[0] for r in conn.execute(
        "SELECT e.plate FROM hotlist_entries e JOIN hotlists l ON l.id = e.list_id WHERE l.name = ?", (name,)))


def test_replace_add_remove_make_versions_with_hash_and_audit(db):
    data = b"ABC123;CA\nNONE;CA\nXYZ789;TX\n"
    report = load(db, data, list_source="ncic", category="stolen vehicle", priority=5)
    assert (report.version, report.accepted, report.junk, report.entries) == (1, 2, 1, 2)
    assert report.sha256 == hashlib.sha256(data).hexdigest()
    assert load(db, b"DEF456;NV\nABC123;CA\n", mode="add").entries == 3
    assert plates(db) == ["ABC123", "DEF456", "XYZ789"]                  # add replaced ABC123/CA, no duplicate
    removed = load(db, b"XYZ789\nNOPE11;CA\n", mode="remove")
    assert (removed.removed, removed.entries, removed.version) == (1, 2, 3)
    assert load(db, b"QQQ111;CA\n").entries == 1                          # replace drops the rest
    assert plates(db) == ["QQQ111"]
    (row,) = list_rows(db)
    # a replace load defines the list: its attributes are the ones given with it
    assert (row["version"], row["source"], row["priority"], row["mode"]) == (4, "agency", 50, "replace")
    versions = db.execute("SELECT version, mode, entries FROM hotlist_versions ORDER BY version").fetchall()
    assert [tuple(v) for v in versions] == [(1, "replace", 2), (2, "add", 3), (3, "remove", 2), (4, "replace", 1)]
    audits = db.execute("SELECT event, user, detail FROM audit_log ORDER BY seq").fetchall()
    assert [a["event"] for a in audits] == ["hotlist.import"] * 4 and audits[0]["user"] == "admin"
    assert json.loads(audits[0]["detail"])["sha256"] == report.sha256
    assert db.execute("SELECT count(*) FROM outbox WHERE kind = 'audit'").fetchone()[0] == 4


def test_empty_replace_is_refused_and_rolled_back(db):
    load(db, b"ABC123;CA\n")
    with pytest.raises(HotlistError):
        load(db, b"NONE\nUNK\n")
    assert plates(db) == ["ABC123"]
    assert load(db, b"", allow_empty=True).entries == 0


def test_bad_rows_reported_by_line_good_rows_loaded(db):
    report = load(db, b"ABC123;CA\nTOOLONGPLATE;CA\nA;B;C\nXYZ789;TX\n")
    assert report.accepted == 2 and report.bad == 2
    assert [e["line"] for e in report.errors] == [2, 3]


def test_loading_a_list_raises_historical_hits_on_reads_still_on_the_unit(db):
    insert_read(db, "r1", "ABC123", "CA")
    insert_read(db, "r2", "A8C123", "TX")      # misread of the entry, other state: possible
    insert_read(db, "r3", "ZZZ999")
    report = load(db, b"ABC123;CA\n", category="stolen vehicle")
    assert report.historical_hits == 2
    hits = {r["read_id"]: r for r in db.execute("SELECT * FROM hits")}
    assert set(hits) == {"r1", "r2"} and all(h["historical"] == 1 for h in hits.values())
    assert hits["r2"]["match"] == "equivalent" and json.loads(hits["r2"]["positions"]) == [1]
    assert hits["r2"]["possible"] == 1 and hits["r1"]["possible"] == 0
    queued = db.execute("SELECT record_id, payload FROM outbox WHERE kind = 'hit'").fetchall()
    assert {q["record_id"] for q in queued} == {h["id"] for h in hits.values()}
    assert json.loads(queued[0]["payload"])["historical"] is True
    assert db.execute("SELECT hit FROM reads WHERE id = 'r1'").fetchone()[0] == 1
    assert load(db, b"ABC123;CA\n").historical_hits == 0          # reloading does not duplicate
    assert load(db, b"ZZZ999\n", mode="add").historical_hits == 1   # add: only the new entries


def test_manual_entry_lifecycle_audited_and_expiring(tmp_path, db):
    insert_read(db, "r1", "MAN001", "CA")
    entry = transaction(db, lambda c: add_manual(c, plate="man-001", state="ca", reason="BOLO armed robbery",
                                                 user="ofc.smith", at=T0, unit_id="u1"))
    assert entry["expires_at"] == iso_utc(T0 + timedelta(days=30)) and entry["historical_hits"] == 1
    clock = ManualClock(T0)
    service = HotlistService(HotlistConfig(), tmp_path, clock, "u1")
    service.start()
    try:
        (hit,) = service.match("MAN001", "CA")
        assert (hit.list_name, hit.match, hit.priority) == ("manual", "exact", 10)
        assert hit.annotations["reason"] == "BOLO armed robbery" and hit.annotations["added_by"] == "ofc.smith"
        clock.advance(30 * 86400 + 1)
        assert service.match("MAN001", "CA") == []                    # expired: no longer hits
        assert manual_entries(db, at=clock.utc()) == []
        assert len(manual_entries(db, at=clock.utc(), include_expired=True)) == 1
        with pytest.raises(HotlistError, match="justification"):
            transaction(db, lambda c: extend_manual(c, entry["id"], days=10, justification=" ", user="sgt",
                                                    at=clock.utc(), unit_id="u1"))
        transaction(db, lambda c: extend_manual(c, entry["id"], days=10, justification="case still open",
                                                user="sgt.jones", at=clock.utc(), unit_id="u1"))
        service.refresh()
        assert [h.entry_plate for h in service.match("MAN001", "CA")] == ["MAN001"]
        transaction(db, lambda c: remove_manual(c, entry["id"], reason="vehicle recovered", user="sgt.jones",
                                                at=clock.utc(), unit_id="u1"))
        service.refresh()
        assert service.match("MAN001", "CA") == []
    finally:
        service.stop()
    audits = db.execute("SELECT event, user, purpose FROM audit_log ORDER BY seq").fetchall()
    assert [(a["event"], a["user"], a["purpose"]) for a in audits] == [
        ("hotlist.manual.add", "ofc.smith", "BOLO armed robbery"),
        ("hotlist.manual.extend", "sgt.jones", "case still open"),
        ("hotlist.manual.remove", "sgt.jones", "vehicle recovered")]


@pytest.mark.parametrize("kwargs, message", [
    ({"reason": ""}, "reason"), ({"user": ""}, "who"), ({"days": 31}, "days"), ({"plate": "UNKNOWN"}, "junk"),
    ({"reason": "."}, "specific reason"), ({"reason": "speed enforcement"}, "prohibited")])
def test_manual_entry_refusals(db, kwargs, message):
    args = dict(plate="ABC123", state="CA", reason="robbery suspect vehicle", user="ofc", at=T0,
                unit_id="u1") | kwargs
    with pytest.raises(HotlistError, match=message):
        transaction(db, lambda c: add_manual(c, **args))
    assert db.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 0


def test_extension_never_shortens(db):
    entry = transaction(db, lambda c: add_manual(c, plate="ABC123", state=None, reason="robbery suspect vehicle",
                                                 user="ofc", at=T0, unit_id="u1"))
    with pytest.raises(HotlistError, match="not extend"):
        transaction(db, lambda c: extend_manual(c, entry["id"], days=5, justification="case still open", user="s",
                                                at=T0, unit_id="u1"))
    with pytest.raises(HotlistError, match="no manual entry"):
        transaction(db, lambda c: remove_manual(c, 999, reason="r", user="s", at=T0, unit_id="u1"))


def test_file_validity_dates_decide_whether_an_entry_hits(tmp_path, db):
    load(db, b"OLD111;CA;2026-01-01;2026-02-28\nNOW222;CA;2026-03-01;2026-03-31\nNEXT333;CA;2026-04-01;\n",
         fmt="delimited delim=; cols=plate,state,effective,expiry")
    clock = ManualClock(T0)
    service = HotlistService(HotlistConfig(), tmp_path, clock, "u1")
    service.start()
    try:
        assert [bool(service.match(p)) for p in ("OLD111", "NOW222", "NEXT333")] == [False, True, False]
        clock.advance(31 * 86400)                                       # 2026-04-01 12:00
        assert [bool(service.match(p)) for p in ("OLD111", "NOW222", "NEXT333")] == [False, False, True]
    finally:
        service.stop()
