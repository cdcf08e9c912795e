"""HotlistService against a real database: background reload, atomic swap, staleness, hit ordering, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from firmware.clock import ManualClock
from firmware.hotlist.config import HotlistConfig
from firmware.hotlist.match import describe_hit
from firmware.hotlist.service import HotlistService
from firmware.hotlist.store import import_hotlist
from firmware.storage.db import open_database, transaction
from rosters import provisioned

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def load(data_dir: Path, data: bytes, name: str, at=T0, **kw):
    conn = open_database(data_dir)
    try:
        return transaction(conn, lambda c: import_hotlist(c, data, name=name, at=at, unit_id="u1", **kw))
    finally:
        conn.close()


def test_hits_ordered_by_priority_with_list_age_and_annotations(tmp_path):
    load(tmp_path, b"LIC,LIS,NIC\nABC123,CA,V000000001\n", "ncic", fmt="csv", list_source="ncic", priority=5,
         category="stolen vehicle")
    load(tmp_path, b"A8C123;CA\n", "local", priority=40, category="warrant", alert="silent")
    load(tmp_path, b"ABC*23;\nABC*23;\n", "wild", priority=90)          # duplicate rows: one hit
    clock = ManualClock(T0)
    clock.advance(3600)
    service = HotlistService(HotlistConfig(), tmp_path, clock, "u1")
    service.start()
    try:
        hits = service.match("abc-123", "CA")
        assert [(h.list_name, h.match, h.positions) for h in hits] == [
            ("ncic", "exact", ()), ("local", "equivalent", (1,)), ("wild", "wildcard", (3,))]
        assert hits[0].annotations == {"NIC": "V000000001"} and hits[0].category == "stolen vehicle"
        assert hits[1].alert == "silent" and hits[1].list_version == 1
        assert describe_hit(hits[1], "abc-123") == \
            "read ABC123 vs entry A8C123: OCR-equivalent characters at read positions [1]"
        assert all(abs(h.list_age_s - 3600) < 1e-6 for h in hits)
        assert service.match("ABC123", "NV")[0].possible is True
        assert service.match("QQQ999") == []
    finally:
        service.stop()


def test_new_versions_are_picked_up_and_swapped_atomically(tmp_path):
    old = [f"OLD{i:04d}" for i in range(3000)]
    new = [f"NEW{i:04d}" for i in range(3000)]
    load(tmp_path, "\n".join(old).encode(), "big")
    config = HotlistConfig(poll_interval_s=0.5)
    service = HotlistService(config, tmp_path, ManualClock(T0), "u1")
    service.start()
    seen, stop = [], threading.Event()

    def matcher():
        while not stop.is_set():   # both plates every time: exactly one of them must hit, never none or both
            a = bool(service.match("OLD0042", annotations=False))
            b = bool(service.match("NEW0042", annotations=False))
            seen.append((a, b))

    worker = threading.Thread(target=matcher)
    worker.start()
    try:
        load(tmp_path, "\n".join(new).encode(), "big")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and service.status()["lists"][0]["version"] != 2:
            time.sleep(0.1)
        while time.monotonic() < deadline and (not seen or seen[-1] != (False, True)):
            time.sleep(0.05)   # the matcher has looked at the new version at least once
    finally:
        stop.set()
        worker.join()
        service.stop()
    assert service.status()["lists"][0]["version"] == 2
    assert seen[0] == (True, False) and seen[-1] == (False, True)
    # Old then new, one swap: a pair straddling it reads (True, True); a half-loaded or empty list would
    # show up as (False, False).
    assert (False, False) not in seen
    changes = sum(1 for x, y in zip(seen, seen[1:]) if x != y)
    assert changes <= 2


def test_stale_list_raises_a_health_event_and_recovers(tmp_path):
    load(tmp_path, b"ABC123\n", "ncic", list_source="ncic")
    events = []
    clock = ManualClock(T0)
    service = HotlistService(HotlistConfig(max_age_hours=24), tmp_path, clock, "u1",
                             on_event=lambda *e: events.append(e))
    service.start()
    try:
        assert service.status()["stale"] == []
        clock.advance(25 * 3600)
        service.refresh()
        assert service.status()["stale"] == ["ncic"]
        assert ("malfunction", "hotlist:ncic") in [(k, s) for k, s, _ in events]
        assert service.match("ABC123")[0].list_age_s > 24 * 3600        # still matches, and says how old
        load(tmp_path, b"ABC123\n", "ncic", at=clock.utc(), list_source="ncic")
        service.refresh()
        assert service.status()["stale"] == []
        assert events[-1][0] == "back_in_service"
    finally:
        service.stop()


def test_cli_match_json(tmp_path):
    listfile = tmp_path / "list.txt"
    listfile.write_text("ABC123;CA;stolen vehicle\nNONE;CA;x\n")
    data = provisioned(tmp_path / "data")
    cli = [sys.executable, "-m", "firmware.cli"]
    imp = subprocess.run(cli + ["hotlist", "import", str(listfile), "--list", "state", "--format",
                                "delimited delim=; cols=plate,state,category", "--data-dir", str(data), "--json",
                                "--user", "adm.ann"],
                         capture_output=True, text=True, check=True)
    assert json.loads(imp.stdout)["junk"] == 1
    out = subprocess.run(cli + ["hotlist", "match", "ABCI23", "--state", "CA", "--data-dir", str(data), "--json",
                                "--user", "ofc.ray"],
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    (hit,) = result["hits"]
    assert {k: hit[k] for k in ("list", "plate", "state", "category", "priority", "match", "positions")} == {
        "list": "state", "plate": "ABC123", "state": "CA", "category": "stolen vehicle", "priority": 50,
        "match": "equivalent", "positions": [3]}
    bad = subprocess.run(cli + ["hotlist", "add", "ABC999", "--reason", "", "--data-dir", str(data), "--user",
                                "ofc.ray"], capture_output=True, text=True)
    assert bad.returncode == 1 and "reason" in bad.stderr


def test_bench_small(tmp_path):
    from argparse import Namespace

    from firmware.hotlist import bench

    result = bench.run(Namespace(entries=5000, reads=500, hit_share=0.1, seed=3, keep=None))
    assert result["entries"] == 5000 and result["reads"] == 500
    assert result["hits"] >= 25 and result["match_us_p50"] > 0 and result["import_s"] > 0


def test_index_cache_serves_restarts_only_for_the_same_version(tmp_path):
    load(tmp_path, b"ABC123;CA\nS*K3*7;\n", "agency", category="stolen")
    first = HotlistService(HotlistConfig(), tmp_path, ManualClock(T0), "u1")
    first.start()
    want = [h.as_dict() for h in first.match("A8C123") + first.match("NSK357")]
    first.stop()
    (folder,) = (tmp_path / "cache" / "hotlist").iterdir()
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["version"] == 1 and meta["categories"] == [None]
    # a database rebuilt from scratch reuses list id 1 / version 1: the cache must not be believed
    (tmp_path / "alpr.db").unlink()
    for extra in ("alpr.db-wal", "alpr.db-shm"):
        (tmp_path / extra).unlink(missing_ok=True)
    load(tmp_path, b"XYZ789;TX\n", "agency", at=T0.replace(hour=13))
    second = HotlistService(HotlistConfig(), tmp_path, ManualClock(T0), "u1")
    second.start()
    try:
        assert second.match("A8C123") == [] and [h.entry_plate for h in second.match("XYZ789")] == ["XYZ789"]
    finally:
        second.stop()
    # and the same version served from the cache matches exactly like one built from the DB
    third = HotlistService(HotlistConfig(), tmp_path, ManualClock(T0), "u1")
    fourth = HotlistService(HotlistConfig(index_cache=False), tmp_path, ManualClock(T0), "u1")
    third.start(), fourth.start()
    try:
        assert [h.as_dict() for h in third.match("XYZ789")] == [h.as_dict() for h in fourth.match("XYZ789")]
    finally:
        third.stop(), fourth.stop()
    assert want and want[0]["match"] == "equivalent" and want[1]["match"] == "wildcard"
