"""Outbox claim/ack helpers on a real SQLite file: order, exclusion, budget filter, acks, requeue."""

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings, strategies as st

from firmware.storage import outbox
from firmware.storage.db import open_database, transaction

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
KINDS = list(outbox.PRIORITY)


def _fill(conn, items):
    def job(c):
        for i, kind in enumerate(items):
            outbox.enqueue(c, kind, f"{kind}-{i}", {"id": f"{kind}-{i}"}, T0 + timedelta(seconds=i))
    transaction(conn, job)


def test_fetch_orders_by_priority_then_age_and_skips_in_flight(tmp_path):
    conn = open_database(tmp_path)
    _fill(conn, ["image", "read", "hit", "read", "audit", "event", "image", "hit"])
    rows = outbox.fetch_pending(conn, 100)
    assert [r["kind"] for r in rows] == ["hit", "audit", "hit", "event", "read", "read", "image", "image"]
    first_two = {rows[0]["seq"], rows[1]["seq"]}
    rest = outbox.fetch_pending(conn, 3, exclude=first_two)
    assert [r["record_id"] for r in rest] == [r["record_id"] for r in rows[2:5]]
    only = outbox.fetch_pending(conn, 10, kinds=("image",))
    assert {r["kind"] for r in only} == {"image"} and len(only) == 2
    assert outbox.fetch_pending(conn, 10, kinds=()) == []
    assert outbox.fetch_pending(conn, 0) == []


def test_ack_is_final_and_idempotent_and_requeue_brings_rows_back(tmp_path):
    conn = open_database(tmp_path)
    _fill(conn, ["read"] * 5 + ["image"] * 3)
    rows = outbox.fetch_pending(conn, 4)
    seqs = [r["seq"] for r in rows]
    transaction(conn, lambda c: outbox.mark_attempted(c, seqs, T0))
    assert transaction(conn, lambda c: outbox.mark_acked(c, seqs, T0)) == 4
    assert transaction(conn, lambda c: outbox.mark_acked(c, seqs, T0)) == 0
    remaining = outbox.fetch_pending(conn, 100)
    assert len(remaining) == 4 and not set(seqs) & {r["seq"] for r in remaining}
    summary = outbox.summary(conn)
    assert summary["queued"] == {"read": 1, "image": 3} and summary["last_ack_at"].startswith("2026-03-01")
    assert conn.execute("SELECT attempts FROM outbox WHERE seq = ?", (seqs[0],)).fetchone()[0] == 1
    assert transaction(conn, lambda c: outbox.requeue(c, "read")) == 4
    assert outbox.counts(conn) == {"read": 5, "image": 3}
    transaction(conn, lambda c: outbox.mark_acked(c, [r["seq"] for r in outbox.fetch_pending(conn, 100)], T0))
    assert transaction(conn, lambda c: outbox.delete_acked(c, T0 + timedelta(seconds=1))) == 8


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(KINDS), min_size=1, max_size=60), st.integers(1, 20))
def test_draining_in_batches_visits_every_row_once_in_priority_order(tmp_path_factory, kinds, batch):
    conn = open_database(tmp_path_factory.mktemp("ob"))
    _fill(conn, kinds)
    seen = []
    while True:
        rows = outbox.fetch_pending(conn, batch)
        if not rows:
            break
        seen.extend(rows)
        transaction(conn, lambda c: outbox.mark_acked(c, [r["seq"] for r in rows], T0))
    assert sorted(r["record_id"] for r in seen) == sorted(f"{k}-{i}" for i, k in enumerate(kinds))
    keys = [(r["priority"], r["seq"]) for r in seen]
    assert keys == sorted(keys)
    conn.close()
