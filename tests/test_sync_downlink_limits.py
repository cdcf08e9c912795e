"""Downlink resource limits (issue 18 item 5): chunks are held only for a transfer a verified manifest
opened, within its declared sizes, within per-transfer and total budgets; every refusal and drop is
audited. On a real database, driven message by message (the broker tests are in
test_sync_downlink_limits_broker.py)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from firmware.clock import ManualClock
from firmware.storage.db import Writer, open_database
from firmware.sync.config import SyncConfig
from firmware.sync.downlink import hotlist_manifest, sign
from firmware.sync.inbox import DownlinkInbox
from firmware.sync.messages import downlink_topic

AGENCY, UNIT = "cmpd", "unit-0001"
NOW = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
MiB = 1024 * 1024


@pytest.fixture
def key():
    return Ed25519PrivateKey.generate()


@pytest.fixture
def make_unit(tmp_path, key):
    made = []

    def make(**overrides):
        conn = open_database(tmp_path / f"data{len(made)}")
        writer = Writer(conn).start()
        public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
        clock = ManualClock(NOW)
        inbox = DownlinkInbox(SyncConfig(agency=AGENCY, downlink_public_key=public, **overrides), writer, UNIT, clock)
        made.append((writer, conn))
        return inbox, conn, clock

    yield make
    for writer, conn in made:
        writer.stop()
        conn.close()


def plates(n, prefix="GD"):
    return "".join(f"{prefix}{i:05d};NC\n" for i in range(n)).encode()


def manifest_msg(key, seq, content, name="stolen", chunk_size=64 * 1024, **extra):
    manifest, chunks = hotlist_manifest(content, name=name, chunk_size=chunk_size)
    manifest.update(extra)
    envelope = sign(key, kind="hotlist", agency=AGENCY, target="all", seq=seq, data=manifest, issued_at=NOW)
    return (downlink_topic(AGENCY, "all", "hotlist", name), envelope), [
        (downlink_topic(AGENCY, "all", "hotlist", name, str(seq), str(i)), c) for i, c in enumerate(chunks)]


def send(inbox, key, seq, content, **kw):
    first, chunks = manifest_msg(key, seq, content, **kw)
    return [inbox.handle(*first)] + [inbox.handle(*c) for c in chunks]


def audits(conn, event):
    return [json.loads(r[0]) for r in conn.execute("SELECT detail FROM audit_log WHERE event = ? ORDER BY seq",
                                                   (event,))]


def security(conn):
    return [json.loads(r[0])["reason"] for r in conn.execute("SELECT detail FROM events WHERE kind = 'security'"
                                                               " ORDER BY at")]


def entries(conn):
    return conn.execute("SELECT count(*) FROM hotlist_entries").fetchone()[0]


def test_junk_chunks_are_never_held_and_a_legitimate_list_still_loads(make_unit, key):
    """The finding: 3 x 1 MiB junk chunks evicted a legitimate list's chunks and nothing was audited."""
    inbox, conn, _ = make_unit()
    legit_manifest, legit_chunks = manifest_msg(key, 7, plates(20_000))
    assert inbox.handle(*legit_manifest) == "pending"
    for i in range(3):
        junk = downlink_topic(AGENCY, "all", "hotlist", "stolen", str(8 + i), "0")
        assert inbox.handle(junk, os.urandom(MiB)) == "dropped"
    assert inbox.handle(downlink_topic(AGENCY, "all", "hotlist", "stolen", "7", "99"), b"x" * 10) == "rejected"
    assert inbox.status()["transfers"]["held_bytes"] == 0
    results = [inbox.handle(*c) for c in legit_chunks]
    assert results[-1] == "accepted" and entries(conn) == 20_000
    inbox.tick()
    dropped = audits(conn, "downlink_dropped")
    assert dropped == [{"reason": "no_manifest", "messages": 3, "bytes": 3 * MiB,
                        "transfers": ["stolen/8", "stolen/9", "stolen/10"]}]
    assert security(conn) == ["bad_chunk"]               # the index the signed manifest does not declare
    status = inbox.status()["transfers"]
    assert status == {"open": [], "reserved_bytes": 0, "held_bytes": 0, "budget_bytes": 128 * MiB}


@pytest.mark.parametrize("cut", ["short", "long", "altered"])
def test_a_chunk_of_the_wrong_size_or_content_is_refused_and_the_right_one_still_completes(make_unit, key, cut):
    inbox, conn, _ = make_unit()
    content = plates(100)
    first, chunks = manifest_msg(key, 3, content, chunk_size=256)
    inbox.handle(*first)
    topic, good = chunks[1]
    bad = {"short": good[:-1], "long": good + b"X", "altered": good[:-1] + b"Y"}[cut]
    assert inbox.handle(topic, bad) == "rejected"
    assert inbox.status()["transfers"]["held_bytes"] == 0
    assert [inbox.handle(*c) for c in chunks][-1] == "accepted"
    assert entries(conn) == 100 and security(conn) == ["bad_chunk"]
    assert audits(conn, "downlink_rejected")[0]["seq"] == 3


def test_the_total_budget_is_promised_by_signed_manifests_only(make_unit, key):
    inbox, conn, _ = make_unit(downlink_max_bytes=600_000, downlink_buffer_bytes=1_000_000)
    a_first, a_chunks = manifest_msg(key, 1, plates(50_000, "AA"), name="a")
    b_first, b_chunks = manifest_msg(key, 1, plates(50_000, "BB"), name="b")
    assert inbox.handle(*a_first) == "pending"
    assert inbox.handle(*b_first) == "rejected"          # 550 kB + 550 kB > 1 MB promised at once
    assert security(conn) == ["over_budget"]
    assert "already promised" in audits(conn, "downlink_rejected")[0]["detail"]
    too_big, _ = manifest_msg(key, 1, plates(61_000, "CC"), name="c")
    assert inbox.handle(*too_big) == "rejected"          # over downlink_max_bytes on its own
    assert security(conn) == ["over_budget", "too_large"]
    assert [inbox.handle(*c) for c in a_chunks][-1] == "accepted"
    assert inbox.handle(*b_first) == "pending"           # the budget is free again: the retained copy fits
    assert [inbox.handle(*c) for c in b_chunks][-1] == "accepted"


def test_superseded_and_stalled_transfers_are_dropped_audited_and_asked_for_again(make_unit, key):
    inbox, conn, clock = make_unit(downlink_transfer_timeout_s=600)
    asked = []
    inbox.ask_broker = lambda f, sub: asked.append((f.rsplit("/", 2)[-2], sub)) or True
    old_first, old_chunks = manifest_msg(key, 4, plates(500), chunk_size=1000)
    inbox.handle(*old_first)
    inbox.handle(*old_chunks[0])
    new_first, new_chunks = manifest_msg(key, 5, plates(600), chunk_size=1000)
    assert inbox.handle(*new_first) == "pending"
    assert inbox.handle(*old_first) == "rejected"        # an older manifest than the open transfer
    superseded = audits(conn, "downlink_dropped")
    assert [(d["reason"], d["seq"], d["received"]) for d in superseded] == [("superseded", 4, 1)]
    assert asked == [("4", True), ("4", False), ("5", True)]
    clock.advance(16)
    inbox.tick()                                          # no chunk for 15 s: ask the broker again
    assert asked[-1] == ("5", True)
    clock.advance(700)
    inbox.tick()
    timed_out = audits(conn, "downlink_dropped")[-1]
    assert timed_out["reason"] == "transfer_timeout" and timed_out["seq"] == 5 and timed_out["received"] == 0
    assert inbox.status()["transfers"]["reserved_bytes"] == 0
    assert [inbox.handle(*new_first)] + [inbox.handle(*c) for c in new_chunks][-1:] == ["pending", "accepted"]


def test_inconsistent_manifest_sizes_and_an_empty_list_do_not_wait_forever(make_unit, key):
    inbox, conn, _ = make_unit()
    manifest, _ = hotlist_manifest(plates(100), name="stolen", chunk_size=256)
    manifest["size"] = 10 * MiB                          # signed, but the sizes cannot add up
    envelope = sign(key, kind="hotlist", agency=AGENCY, target="all", seq=1, data=manifest, issued_at=NOW)
    assert inbox.handle(downlink_topic(AGENCY, "all", "hotlist", "stolen"), envelope) == "rejected"
    assert security(conn) == ["invalid"] and inbox.status()["transfers"]["reserved_bytes"] == 0
    assert send(inbox, key, 2, b"")[0] == "rejected"     # an empty replace list: refused at once, not pending
    assert "empty" in audits(conn, "downlink_rejected")[-1]["detail"]


def wait_for(predicate, timeout=60.0):
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.05)


def test_oversize_messages_and_a_full_queue_are_audited_by_the_worker(make_unit, key):
    import threading

    inbox, conn, _ = make_unit(downlink_max_bytes=MiB, downlink_buffer_bytes=2 * MiB)
    for i in range(4):                                    # the worker is not running: the queue fills up
        inbox.submit(downlink_topic(AGENCY, "all", "hotlist", "x", "1", str(i)), b"j" * MiB)
    inbox.oversize(downlink_topic(AGENCY, "all", "hotlist", "stolen", "1", "0"), 50 * MiB)
    assert inbox.status()["dropped"] == 2 and inbox.status()["queued_bytes"] == 2 * MiB
    def unclaimed():
        return sum(d["messages"] for d in audits(conn, "downlink_dropped") if d["reason"] == "no_manifest")

    stop = threading.Event()
    worker = threading.Thread(target=inbox.run, args=(stop,), daemon=True)
    worker.start()
    try:
        wait_for(lambda: security(conn) == ["oversize"] and unclaimed() == 2)   # flushed every 2 s at most
    finally:
        stop.set()
        worker.join(30)
    refused = audits(conn, "downlink_rejected")[0]
    assert refused["bytes"] == 50 * MiB and "limit" in refused["detail"]
    full = [d for d in audits(conn, "downlink_dropped") if d["reason"] == "queue_full"]
    assert full == [{"reason": "queue_full", "messages": 2, "bytes": 2 * MiB}]
    assert inbox.status()["queued_bytes"] == 0 and inbox.status()["transfers"]["held_bytes"] == 0


def test_config_bounds_for_the_buffers():
    with pytest.raises(ValidationError, match="downlink_buffer_bytes"):
        SyncConfig(downlink_max_bytes=64 * MiB, downlink_buffer_bytes=32 * MiB)
    with pytest.raises(ValidationError):
        SyncConfig(downlink_max_message_bytes=1024)
    assert SyncConfig().downlink_max_message_bytes >= 4 * MiB + 1024   # a 4 MiB chunk (the manifest's limit) fits


def test_a_chunk_size_the_unit_would_refuse_is_refused_at_the_manifest(make_unit, key):
    inbox, conn, _ = make_unit(downlink_max_message_bytes=64 * 1024)
    first, _ = manifest_msg(key, 1, plates(20_000), chunk_size=128 * 1024)
    assert inbox.handle(*first) == "rejected"
    assert security(conn) == ["too_large"] and "downlink_max_message_bytes" in audits(conn, "downlink_rejected")[0][
        "detail"]
