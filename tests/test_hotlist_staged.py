"""Staged full-list replacement: same result as the one-transaction import, old version served until
the swap, nothing left behind when a load fails or is interrupted."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from firmware.clock import ManualClock, iso_utc
from firmware.hotlist.config import HotlistConfig
from firmware.hotlist.service import HotlistService
from firmware.hotlist.staged import import_hotlist_staged, purge_abandoned
from firmware.hotlist.store import HotlistError, import_hotlist, list_rows
from firmware.storage.db import open_database, transaction

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
LIST_A = b"".join(f"A{i:05d};CA;stolen\n".encode() for i in range(5000)) + b"NONE;CA;x\nTOOLONGPLATE99;CA;x\n"
LIST_B = b"".join(f"B{i:05d};TX\n".encode() for i in range(3000))


def staged(conn, data, run=None, **kw):
    args = dict(name="ncic", list_source="ncic", at=T0, unit_id="u1", user="admin", batch_rows=700) | kw
    return import_hotlist_staged(run or (lambda job: transaction(conn, job)), data, **args)


def snapshot(conn):
    rows = conn.execute("SELECT e.plate, e.state, e.category FROM hotlist_entries e JOIN hotlists l"
                        " ON l.id = e.list_id WHERE l.name = 'ncic' ORDER BY e.plate").fetchall()
    return [tuple(r) for r in rows]


def test_staged_equals_single_transaction(tmp_path):
    one = open_database(tmp_path / "one")
    two = open_database(tmp_path / "two")
    direct = transaction(one, lambda c: import_hotlist(c, LIST_A, name="ncic", list_source="ncic", at=T0,
                                                       unit_id="u1", user="admin"))
    report = staged(two, LIST_A)
    keys = ("version", "accepted", "junk", "bad", "entries", "sha256", "errors")
    assert {k: getattr(report, k) for k in keys} == {k: getattr(direct, k) for k in keys}
    assert snapshot(one) == snapshot(two) and len(snapshot(two)) == 5000
    assert two.execute("SELECT count(*) FROM hotlists WHERE staging = 1").fetchone()[0] == 0


def test_replacing_keeps_history_and_serves_the_old_version_until_the_swap(tmp_path):
    conn = open_database(tmp_path)
    staged(conn, LIST_A)
    service = HotlistService(HotlistConfig(), tmp_path, ManualClock(T0), "u1")
    service.start()
    observed = []

    def run(job):                         # between every short transaction, the daemon keeps matching
        result = transaction(conn, job)
        service.refresh()
        observed.append((bool(service.match("A00042", annotations=False)),
                         bool(service.match("B00042", annotations=False))))
        return result

    try:
        report = staged(conn, LIST_B, run=run)
    finally:
        service.stop()
    assert report.version == 2 and report.entries == 3000
    first_new = observed.index((False, True))
    assert all(o == (True, False) for o in observed[:first_new])       # old list whole until the swap
    assert all(o == (False, True) for o in observed[first_new:])       # then only the new one
    assert first_new > 3                                                # several batches went by first
    (row,) = list_rows(conn)
    assert (row["name"], row["version"], row["entries"]) == ("ncic", 2, 3000)
    versions = conn.execute("SELECT version, entries FROM hotlist_versions WHERE list_id = ? ORDER BY version",
                            (row["id"],)).fetchall()
    assert [tuple(v) for v in versions] == [(1, 5000), (2, 3000)]
    assert conn.execute("SELECT count(*) FROM hotlist_entries").fetchone()[0] == 3000   # retired rows deleted
    assert conn.execute("SELECT count(*) FROM hotlists").fetchone()[0] == 1
    details = [json.loads(r[0]) for r in conn.execute("SELECT detail FROM audit_log WHERE event = 'hotlist.import'")]
    assert [d["version"] for d in details] == [1, 2] and details[1]["staged"] is True


def test_failed_or_empty_load_leaves_the_list_untouched(tmp_path):
    conn = open_database(tmp_path)
    staged(conn, LIST_A)
    before = snapshot(conn)
    with pytest.raises(HotlistError, match="empty"):
        staged(conn, b"NONE\nUNK\n")
    calls = {"n": 0}

    def flaky(job):
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError("disk unplugged")
        return transaction(conn, job)

    with pytest.raises(OSError):
        staged(conn, LIST_B, run=flaky)
    assert snapshot(conn) == before
    assert conn.execute("SELECT count(*) FROM hotlists").fetchone()[0] == 1
    assert conn.execute("SELECT version FROM hotlists").fetchone()[0] == 1


def test_interrupted_load_is_purged_at_start(tmp_path):
    conn = open_database(tmp_path)
    staged(conn, LIST_A)
    transaction(conn, lambda c: c.execute(
        "INSERT INTO hotlists (name, staging, created_at) VALUES ('~staging~dead', 1, ?)", (iso_utc(T0),)))
    dead = conn.execute("SELECT id FROM hotlists WHERE staging = 1").fetchone()[0]
    transaction(conn, lambda c: c.executemany("INSERT INTO hotlist_entries (list_id, plate) VALUES (?, ?)",
                                              [(dead, f"X{i}") for i in range(50)]))
    assert [r["name"] for r in list_rows(conn)] == ["ncic"]             # never visible to matching
    assert purge_abandoned(lambda job: transaction(conn, job)) == 1
    assert conn.execute("SELECT count(*) FROM hotlist_entries").fetchone()[0] == 5000


def test_staged_load_raises_historical_hits(tmp_path):
    conn = open_database(tmp_path)
    transaction(conn, lambda c: c.execute(
        "INSERT INTO reads (id, unit_id, camera_id, plate, plate_raw, confidence, char_confidences, frames, box,"
        " captured_at, first_seen_at, clock_source, frame_seq, created_at) VALUES"
        " ('r1', 'u1', 'front', 'B00O42', 'B00O42', 0.9, '[]', 1, '[0,0,1,1]', ?, ?, 'test', 1, ?)",
        (iso_utc(T0),) * 3))
    report = staged(conn, LIST_B)
    assert report.historical_hits == 1
    hit = conn.execute("SELECT * FROM hits").fetchone()
    assert (hit["entry_plate"], hit["match"], hit["historical"], hit["list_version"]) == ("B00042", "equivalent", 1, 1)
    assert json.loads(hit["positions"]) == [3]
