"""Tampering with the audit log: every edit, deletion, insertion or reordering is caught by verify."""

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from firmware.retention.audit import GENESIS, append_audit, entry_hash, verify_chain
from firmware.storage.db import open_database, transaction

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


@pytest.fixture
def log(tmp_path):
    conn = open_database(tmp_path)
    for i in range(8):
        transaction(conn, lambda c: append_audit(c, unit_id="u1", event="query", at=T0 + timedelta(minutes=i),
                                                 user=f"user{i % 3}", purpose="stolen vehicle",
                                                 detail={"terms": {"plate": f"ABC{i:03d}"}}))
    assert verify_chain(conn)["ok"]
    yield conn
    conn.close()


def problems(conn) -> set[str]:
    result = verify_chain(conn)
    assert not result["ok"]
    return {p["problem"] for p in result["problems"]}


def test_untouched_log_verifies(log):
    result = verify_chain(log)
    assert result == {**result, "ok": True, "entries": 8, "last_seq": 8, "problems": []}
    assert log.execute("SELECT prev_hash FROM audit_log WHERE seq = 1").fetchone()[0] == GENESIS


def test_guards_refuse_update_and_delete(log):
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        log.execute("UPDATE audit_log SET user = 'mallory' WHERE seq = 3")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        log.execute("DELETE FROM audit_log WHERE seq = 3")
    with pytest.raises(sqlite3.IntegrityError, match="forward"):
        log.execute("UPDATE audit_anchor SET seq = -1")
    assert verify_chain(log)["ok"]


def test_edit_is_detected(log):
    log.execute("DROP TRIGGER audit_log_no_update")
    log.execute("UPDATE audit_log SET purpose = 'traffic enforcement' WHERE seq = 4")
    assert {"entry_altered", "trigger_missing"} <= problems(log)


def test_edit_with_rehash_of_that_entry_is_detected(log):
    log.execute("DROP TRIGGER audit_log_no_update")
    row = dict(log.execute("SELECT * FROM audit_log WHERE seq = 4").fetchone())
    row["user"] = "someone_else"
    log.execute("UPDATE audit_log SET user = ?, hash = ? WHERE seq = 4", (row["user"], entry_hash(row["prev_hash"], row)))
    assert "chain_broken" in problems(log)  # entry 5 still points at the old hash


def test_delete_in_the_middle_is_detected(log):
    log.execute("DROP TRIGGER audit_log_no_delete")
    log.execute("DELETE FROM audit_log WHERE seq = 5")
    assert {"seq_gap", "chain_broken", "entry_deleted", "trigger_missing"} <= problems(log)


def test_delete_of_the_latest_entries_is_detected(log):
    log.execute("DROP TRIGGER audit_log_no_delete")
    log.execute("DELETE FROM audit_log WHERE seq >= 7")
    log.execute("DELETE FROM outbox WHERE kind = 'audit'")  # the tamperer hides the queued copies too
    assert "tail_deleted" in problems(log)


def test_insert_is_detected(log):
    forged = {"id": "forged", "at": "2026-03-01T00:03:30.000000Z", "unit_id": "u1", "event": "login_ok",
              "user": "mallory", "purpose": None, "detail": "{}"}
    prev = log.execute("SELECT hash FROM audit_log WHERE seq = 3").fetchone()[0]
    log.execute("INSERT INTO audit_log (seq, id, at, unit_id, event, user, purpose, detail, prev_hash, hash)"
                " VALUES (100, :id, :at, :unit_id, :event, :user, :purpose, :detail, :prev, :hash)",
                {**forged, "prev": prev, "hash": entry_hash(prev, forged)})
    assert {"seq_gap", "chain_broken"} <= problems(log)


def test_reorder_is_detected(log):
    log.execute("DROP TRIGGER audit_log_no_update")
    a = dict(log.execute("SELECT * FROM audit_log WHERE seq = 2").fetchone())
    b = dict(log.execute("SELECT * FROM audit_log WHERE seq = 6").fetchone())
    cols = ("id", "at", "unit_id", "event", "user", "purpose", "detail", "prev_hash", "hash")
    log.execute("UPDATE audit_log SET id = 'tmp' WHERE seq = 2")
    log.execute(f"UPDATE audit_log SET {', '.join(c + ' = ?' for c in cols)} WHERE seq = 6", [a[c] for c in cols])
    log.execute(f"UPDATE audit_log SET {', '.join(c + ' = ?' for c in cols)} WHERE seq = 2", [b[c] for c in cols])
    assert "chain_broken" in problems(log)


def test_queued_copy_that_differs_is_detected(log):
    rid, payload = log.execute("SELECT record_id, payload FROM outbox WHERE kind = 'audit' LIMIT 1").fetchone()
    body = json.loads(payload)
    body["hash"] = "f" * 64
    log.execute("UPDATE outbox SET payload = ? WHERE record_id = ?", (json.dumps(body).encode(), rid))
    assert problems(log) == {"queued_copy_differs"}


def test_cli_verify_exit_codes(tmp_path, log, capsys):
    from firmware.cli import main

    data_dir = tmp_path
    login = ["--user", "tech.x", "--provisioning"]   # no roster on this unit: the technician's audited path
    assert main(["audit", "verify", "--data-dir", str(data_dir), "--json", *login]) == 0
    log.execute("DROP TRIGGER audit_log_no_update")
    log.execute("UPDATE audit_log SET user = 'x' WHERE seq = 2")
    capsys.readouterr()
    assert main(["audit", "verify", "--data-dir", str(data_dir), "--json", *login]) == 1
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["ok"] is False and {"problem": "entry_altered", "seq": 2, "id": out["problems"][-1]["id"]} in \
        out["problems"]
