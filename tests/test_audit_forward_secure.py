"""Root on the unit against the forward-secure audit log: every tamper is named by the agency's check.

The attacker here has what root has: the database file, the current MAC key in it, the firmware's own
hash and MAC functions, and the power to drop triggers. The agency has the initial key from
provisioning. Each test tampers one way and asserts the agency verifier names the first bad entry.
"""

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from firmware.clock import iso_utc as iso
from firmware.retention.agency import verify_database, verify_path, verify_stream
from firmware.retention.audit import append_audit, entry_hash, purge_audit_prefix, verify_chain
from firmware.retention.auditkey import entry_mac, evolve, load_key_file, provision_key
from firmware.storage.db import open_database, transaction

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
UNIT = "u-17"


def add(conn, i, event="query", user="officer1"):
    return transaction(conn, lambda c: append_audit(c, unit_id=UNIT, event=event, at=T0 + timedelta(minutes=i),
                                                    user=user, purpose="stolen vehicle", detail={"n": i}))


@pytest.fixture
def unit(tmp_path):
    """Two entries from before the key (hash chain only), the key, then twelve MACed entries."""
    conn = open_database(tmp_path / "data")
    add(conn, 0)
    add(conn, 1)
    key_file = tmp_path / "agency.key"
    transaction(conn, lambda c: provision_key(c, key_file, unit_id=UNIT, at=T0, user="tech"))
    for i in range(2, 14):
        add(conn, i, event="login_failed" if i % 4 == 0 else "query")
    yield conn, load_key_file(key_file), tmp_path
    conn.close()


def rows(conn):
    return [dict(r) for r in conn.execute("SELECT * FROM audit_log ORDER BY seq")]


def as_root(conn):
    for name in ("audit_log_no_update", "audit_log_no_delete", "audit_key_only_forward", "audit_key_no_delete",
                 "audit_anchor_no_rewind"):
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")


def rewrite_from(conn, entries, first_seq):
    """What root can do with the firmware's functions: re-store `entries` from `first_seq` on, re-hashed and
    re-MACed with the key it finds on the unit, and leave the key row consistent with the new end."""
    key_seq, key = conn.execute("SELECT seq, key FROM audit_key").fetchone()
    key = bytes.fromhex(key)
    prev = conn.execute("SELECT hash FROM audit_log WHERE seq = ?", (first_seq - 1,)).fetchone()[0]
    conn.execute("DELETE FROM audit_log WHERE seq >= ?", (first_seq,))
    for offset, e in enumerate(entries):
        seq = first_seq + offset
        e = {**e, "seq": seq, "prev_hash": prev}
        e["hash"] = entry_hash(prev, e)
        e["mac"] = entry_mac(key, seq, e["hash"])  # the only key root has
        key = evolve(key)
        conn.execute("INSERT INTO audit_log (seq, id, at, unit_id, event, user, purpose, detail, prev_hash, hash, mac)"
                     " VALUES (:seq, :id, :at, :unit_id, :event, :user, :purpose, :detail, :prev_hash, :hash, :mac)", e)
        prev = e["hash"]
    last = first_seq + len(entries) - 1
    conn.execute("UPDATE audit_key SET seq = ?, key = ?", (last + 1, key.hex()))
    conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'audit_log'", (last,))
    conn.execute("DELETE FROM outbox WHERE kind = 'audit'")


def first_bad(conn, key, **kw):
    result = verify_database(conn, key, **kw)
    assert not result["ok"]
    return result["first_bad"]


def test_untouched_log_passes_both_checks_and_marks_the_old_entries(unit):
    conn, key, _ = unit
    local = verify_chain(conn)
    assert local["ok"], local["problems"]
    assert local["mac"]["first_seq"] == 3 and local["mac"]["entries_with_mac"] == 13
    assert local["mac"]["entries_hash_chain_only"] == 2
    agency = verify_database(conn, key)
    assert agency["ok"], agency["problems"]
    assert agency["mac_verified"] == 13 and agency["hash_chain_only"] == 2
    assert conn.execute("SELECT seq FROM audit_key").fetchone()[0] == 16
    # the unit keeps only the key for the next entry: not the initial one, not any used one
    stored = conn.execute("SELECT key FROM audit_key").fetchone()[0]
    k = key["key"]
    for _ in range(13):
        assert k.hex() != stored
        k = evolve(k)
    assert k.hex() == stored


def test_delete_is_named(unit):
    conn, key, _ = unit
    as_root(conn)
    conn.execute("DELETE FROM audit_log WHERE seq = 8")
    assert first_bad(conn, key) == {"problem": "entries_missing", "seq": 8, "through_seq": 8}


def test_edit_is_named(unit):
    conn, key, _ = unit
    as_root(conn)
    conn.execute("UPDATE audit_log SET user = 'someone_else' WHERE seq = 6")
    assert first_bad(conn, key)["seq"] == 6


def test_reorder_is_named(unit):
    conn, key, _ = unit
    as_root(conn)
    entries = rows(conn)
    a, b = entries[6], entries[7]  # seq 7 and 8
    for target, source in ((a, b), (b, a)):
        conn.execute("UPDATE audit_log SET id = ?, at = ?, event = ?, user = ?, detail = ?, hash = ?, mac = ?"
                     " WHERE seq = ?", ("x" + source["id"], source["at"], source["event"], source["user"],
                                        source["detail"], source["hash"], source["mac"], target["seq"]))
    bad = first_bad(conn, key)
    assert bad["seq"] == 7 and bad["problem"] in ("chain_broken", "entry_altered", "mac_invalid")


def test_truncate_is_named_even_with_outbox_and_sequence_cleaned(unit):
    conn, key, _ = unit
    as_root(conn)
    conn.execute("DELETE FROM audit_log WHERE seq >= 13")
    conn.execute("DELETE FROM outbox WHERE kind = 'audit'")
    conn.execute("UPDATE sqlite_sequence SET seq = 12 WHERE name = 'audit_log'")
    assert first_bad(conn, key) == {"problem": "truncated", "seq": 13, "through_seq": 15}
    assert "tail_deleted" in {p["problem"] for p in verify_chain(conn)["problems"]}  # the unit sees it too
    # rolling the key back to cover the cut is what root cannot do: it has no earlier key
    conn.execute("UPDATE audit_key SET seq = 13")
    assert first_bad(conn, key)["problem"] == "key_state_forged"


def test_full_rewrite_with_the_firmwares_own_functions_passes_the_unit_but_not_the_agency(unit):
    conn, key, _ = unit
    as_root(conn)
    kept = [e for e in rows(conn) if e["seq"] >= 5 and e["event"] != "login_failed"]  # hide the failed logins
    rewrite_from(conn, kept, 5)
    conn.execute("CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'x'); END")
    assert verify_chain(conn)["ok"] or {p["problem"] for p in verify_chain(conn)["problems"]} <= {"trigger_missing"}
    assert first_bad(conn, key) == {**first_bad(conn, key), "problem": "mac_invalid", "seq": 5}


def test_rewrite_into_a_fresh_database_under_a_new_key_is_named(unit, tmp_path):
    conn, key, _ = unit
    forged = open_database(tmp_path / "forged")
    transaction(forged, lambda c: provision_key(c, tmp_path / "mallory.key", unit_id=UNIT, at=T0, user="tech"))
    for e in rows(conn):
        if e["event"] in ("login_failed", "audit_key_provisioned"):
            continue
        transaction(forged, lambda c: append_audit(c, unit_id=e["unit_id"], event=e["event"], at=T0, user=e["user"],
                                                   purpose=e["purpose"], detail=json.loads(e["detail"])))
    assert verify_chain(forged)["ok"]
    result = verify_database(forged, key)
    assert not result["ok"] and result["first_bad"]["seq"] <= 3
    assert {"key_replaced", "mac_invalid"} <= {p["problem"] for p in result["problems"]}, result["problems"]
    forged.close()


def test_anchor_move_needs_a_purge_entry_and_the_agency_needs_to_have_the_entries(unit):
    conn, key, _ = unit
    # the lawful way: purge moves the anchor and says so in a MACed entry
    transaction(conn, lambda c: purge_audit_prefix(c, 4, T0 + timedelta(days=1200), UNIT))
    assert verify_chain(conn)["ok"] and verify_database(conn, key)["ok"]
    last = rows(conn)[-1]
    assert last["event"] == "audit_purged" and json.loads(last["detail"])["upto_seq"] == 4
    # root moves it further, hiding entries 5..9
    as_root(conn)
    h9 = conn.execute("SELECT hash FROM audit_log WHERE seq = 9").fetchone()[0]
    conn.execute("UPDATE audit_anchor SET seq = 9, hash = ?", (h9,))
    conn.execute("DELETE FROM audit_log WHERE seq <= 9")
    assert first_bad(conn, key) == {**first_bad(conn, key), "problem": "anchor_unjustified", "seq": 9}
    assert "anchor_unjustified" in {p["problem"] for p in verify_chain(conn)["problems"]}
    # ... and appends a purge entry of its own with the current key: the agency's stream shows 5..9 never arrived
    transaction(conn, lambda c: append_audit(c, unit_id=UNIT, event="audit_purged", at=T0, user="system",
                                             detail={"upto_seq": 9, "upto_hash": h9}))
    assert verify_database(conn, key)["ok"]  # the MAC chain alone cannot tell a post-compromise append
    bad = first_bad(conn, key, received=set(range(1, 5)))
    assert bad == {**bad, "problem": "purged_before_sync", "seq": 5}


def test_synced_stream_is_checked_and_the_first_bad_entry_named(unit, tmp_path):
    conn, key, _ = unit
    payloads = [json.loads(p[0]) for p in conn.execute("SELECT payload FROM outbox WHERE kind = 'audit' ORDER BY seq")]
    lines = [json.dumps(p) for p in reversed(payloads)] + [json.dumps(payloads[3])]  # any order, resends
    result = verify_stream(lines, key)
    assert result["ok"] and result["mac_verified"] == 13, result["problems"]
    assert result["checkpoint"] == {"through_seq": payloads[-1]["seq"], "head_hash": payloads[-1]["hash"]}
    payloads[9]["detail"] = {"n": 99}
    del payloads[11]
    result = verify_stream([json.dumps(p) for p in payloads], key)
    assert result["first_bad"]["seq"] == 10 and result["checkpoint"] is None
    assert {"problem": "entries_missing", "seq": 12, "through_seq": 12} in result["problems"]
    stream = tmp_path / "audit.jsonl"
    stream.write_text("\n".join(json.dumps(p) for p in payloads) + "\n")
    assert verify_path(stream, key)["first_bad"]["seq"] == 10


def test_a_seq_past_any_plausible_key_is_named_not_walked_to(unit):
    """A corrupt or hostile stream line with seq 10**12 would make the agency derive 10**12 keys (days): it is
    set aside as seq_implausible, named by line and seq, while every real entry is still checked."""
    conn, key, _ = unit
    payloads = [json.loads(p[0]) for p in conn.execute("SELECT payload FROM outbox WHERE kind = 'audit' ORDER BY seq")]
    lines = [json.dumps(p) for p in payloads] + [json.dumps({**payloads[-1], "seq": 10 ** 12})]
    result = verify_stream(lines, key)
    assert not result["ok"] and result["mac_verified"] == 13, result["problems"]
    assert result["first_bad"] == {**result["first_bad"], "problem": "seq_implausible", "line": 16, "seq": 10 ** 12}
    assert [p["problem"] for p in result["problems"]] == ["seq_implausible"]   # not "10**12 entries missing"
    payloads[9]["detail"] = {"n": 99}                                           # a real tamper is still named first
    result = verify_stream([json.dumps(p) for p in payloads] + lines[-1:], key)
    assert result["first_bad"]["seq"] == 10 and "seq_implausible" in {p["problem"] for p in result["problems"]}
    # the bound is exact: first_seq 3 + 12 keys reaches the last real entry (15), 11 keys does not
    assert verify_stream(lines[:-1], key, max_steps=12)["ok"]
    short = verify_stream(lines[:-1], key, max_steps=11)
    assert short["problems"] == [{"problem": "seq_implausible", "line": 15, "seq": 15, "id": payloads[-1]["id"],
                                  "detail": short["problems"][0]["detail"]}]
    assert "more than 11 keys past" in short["problems"][0]["detail"]


def test_a_database_seq_or_key_position_past_any_plausible_key_is_named(unit):
    conn, key, _ = unit
    as_root(conn)
    conn.execute("UPDATE audit_log SET seq = ? WHERE seq = 15", (10 ** 12,))
    problems = verify_database(conn, key)["problems"]
    assert {"problem": "seq_implausible", "seq": 10 ** 12} in [{k: p.get(k) for k in ("problem", "seq")}
                                                               for p in problems]
    conn.execute("UPDATE audit_log SET seq = 15 WHERE seq = ?", (10 ** 12,))
    conn.execute("UPDATE audit_key SET seq = ?", (10 ** 12,))
    bad = first_bad(conn, key)
    assert bad["problem"] == "seq_implausible" and bad["seq"] == 10 ** 12 and "key position" in bad["detail"]


def test_the_key_is_provisioned_once_and_its_file_never_overwritten(unit, tmp_path):
    conn, _, _ = unit
    from firmware.retention.auditkey import AuditKeyError

    with pytest.raises(AuditKeyError, match="already"):
        transaction(conn, lambda c: provision_key(c, tmp_path / "again.key", unit_id=UNIT, at=T0, user="tech"))
    assert not (tmp_path / "again.key").exists()
    fresh = open_database(tmp_path / "fresh")
    with pytest.raises(AuditKeyError, match="never overwritten"):
        transaction(fresh, lambda c: provision_key(c, tmp_path / "agency.key", unit_id=UNIT, at=T0, user="tech"))
    assert fresh.execute("SELECT count(*) FROM audit_key").fetchone()[0] == 0  # rolled back with the file refused
    assert (tmp_path / "agency.key").stat().st_mode & 0o777 == 0o600
    fresh.close()


def test_a_rolled_back_entry_does_not_burn_its_key(unit):
    conn, key, _ = unit
    with pytest.raises(RuntimeError):
        def job(c):
            append_audit(c, unit_id=UNIT, event="query", at=T0, user="x")
            raise RuntimeError("the caller's work failed")
        transaction(conn, job)
    add(conn, 50)
    assert verify_chain(conn)["ok"] and verify_database(conn, key)["ok"]


def test_guards_refuse_rewinding_or_deleting_the_key(unit):
    conn, _, _ = unit
    with pytest.raises(sqlite3.IntegrityError, match="forward"):
        conn.execute("UPDATE audit_key SET seq = 3")
    with pytest.raises(sqlite3.IntegrityError, match="cannot be deleted"):
        conn.execute("DELETE FROM audit_key")


def test_signed_checkpoint_lets_the_unit_itself_catch_a_rewrite(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from firmware.clock import ManualClock
    from firmware.storage.db import Writer
    from firmware.sync.config import SyncConfig
    from firmware.sync.downlink import sign
    from firmware.sync.inbox import DownlinkInbox
    from firmware.sync.messages import downlink_topic

    agency_key = Ed25519PrivateKey.generate()
    public = agency_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    conn = open_database(tmp_path / "data")
    transaction(conn, lambda c: provision_key(c, tmp_path / "k", unit_id=UNIT, at=T0, user="tech"))
    for i in range(8):
        add(conn, i)
    head_seq, head = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    writer = Writer(conn).start()
    inbox = DownlinkInbox(SyncConfig(agency="dpd", downlink_public_key=public), writer, UNIT, ManualClock(T0))
    topic = downlink_topic("dpd", UNIT, "audit_checkpoint")
    message = sign(agency_key, kind="audit_checkpoint", agency="dpd", target=UNIT, seq=1,
                   data={"through_seq": head_seq, "head_hash": head}, issued_at=T0)
    assert inbox.handle(topic, message) == "accepted"
    fleet = sign(agency_key, kind="audit_checkpoint", agency="dpd", target="all", seq=2,
                 data={"through_seq": head_seq, "head_hash": head}, issued_at=T0)
    assert inbox.handle(downlink_topic("dpd", "all", "audit_checkpoint"), fleet) == "rejected"
    writer.stop()
    assert verify_chain(conn)["ok"] and verify_chain(conn)["checkpoints_checked"] == 1
    as_root(conn)
    rewrite_from(conn, [e for e in rows(conn) if e["seq"] >= 4 and e["seq"] != 5], 4)  # entry 5 hidden
    problems = verify_chain(conn)["problems"]
    assert {"problem": "checkpoint_mismatch", "seq": head_seq, "checkpoint": 1} in problems
    conn.close()


def test_cli_init_key_and_agency_verify(tmp_path, capsys):
    from firmware.cli import main

    from rosters import provisioned

    data, key_file = provisioned(tmp_path / "data"), tmp_path / "agency.key"
    assert main(["audit", "init-key", "--data-dir", str(data), "--out", str(key_file), "--user", "tech.tim",
                 "--json"]) == 0
    assert main(["audit", "init-key", "--data-dir", str(data), "--out", str(tmp_path / "k2"), "--user", "ofc.ray"]) == 1
    assert main(["audit", "init-key", "--data-dir", str(data), "--out", str(tmp_path / "k2"), "--user",
                 "tech.tim"]) == 2
    conn = open_database(data)
    unit_id = json.loads(key_file.read_text())["unit_id"]
    for i in range(5):
        transaction(conn, lambda c: append_audit(c, unit_id=unit_id, event="query", at=T0, user="o", detail={"i": i}))
    capsys.readouterr()
    assert main(["agency", "verify-audit", "--key", str(key_file), str(data), "--json"]) == 0
    macs = conn.execute("SELECT count(*) FROM audit_log WHERE mac IS NOT NULL").fetchone()[0]
    assert json.loads(capsys.readouterr().out)["mac_verified"] == macs >= 6
    as_root(conn)
    conn.execute("UPDATE audit_log SET user = 'nobody' WHERE seq = 4")
    conn.close()
    assert main(["agency", "verify-audit", "--key", str(key_file), str(data / "alpr.db"), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["first_bad"]["seq"] == 4
    assert main(["agency", "verify-audit", "--key", str(tmp_path / "missing.key"), str(data)]) == 2


def test_an_existing_database_migrates_its_old_entries_are_marked_and_keep_verifying(tmp_path, monkeypatch):
    from firmware.retention.audit import GENESIS
    from firmware.storage import db as dbmod

    every = dbmod._migrations()
    monkeypatch.setattr(dbmod, "_migrations", lambda: [m for m in every if m[0] < 8])
    old = open_database(tmp_path)
    prev = GENESIS
    for i in range(4):  # what the firmware before migration 0008 wrote: no MAC column, no key
        e = {"id": f"old-{i}", "at": iso(T0 + timedelta(minutes=i)), "unit_id": UNIT, "event": "query",
             "user": "officer1", "purpose": "stolen vehicle", "detail": "{}"}
        e["hash"] = entry_hash(prev, e)
        old.execute("INSERT INTO audit_log (id, at, unit_id, event, user, purpose, detail, prev_hash, hash)"
                    " VALUES (:id, :at, :unit_id, :event, :user, :purpose, :detail, :prev, :hash)", {**e, "prev": prev})
        prev = e["hash"]
    old.close()
    monkeypatch.setattr(dbmod, "_migrations", lambda: every)
    conn = open_database(tmp_path)
    result = verify_chain(conn)
    assert result["ok"] and result["mac"]["legacy_through_seq"] == 4 and result["mac"]["entries_hash_chain_only"] == 4
    transaction(conn, lambda c: provision_key(c, tmp_path / "agency.key", unit_id=UNIT, at=T0, user="tech"))
    add(conn, 10)
    key = load_key_file(tmp_path / "agency.key")
    assert key["first_seq"] == 5 and verify_chain(conn)["ok"]
    agency = verify_database(conn, key)
    assert agency["ok"] and agency["hash_chain_only"] == 4 and agency["mac_verified"] == 2
    as_root(conn)
    conn.execute("UPDATE audit_log SET user = 'x' WHERE seq = 2")  # an old entry: the hash chain still catches it
    assert first_bad(conn, key)["seq"] == 2
    conn.close()


def test_provisioning_can_create_the_audit_key(tmp_path, capsys):
    from firmware.cli import main

    data, key_file = tmp_path / "data", tmp_path / "agency.key"
    assert main(["provision", "--data-dir", str(data), "--user", "tech.tim", "--audit-key-out", str(key_file),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    key = load_key_file(key_file)
    assert out["audit_key"]["first_seq"] == key["first_seq"]
    conn = open_database(data)
    assert verify_chain(conn)["mac"]["key"] == "provisioned" and verify_database(conn, key)["ok"]
    conn.close()


@pytest.mark.parametrize("bad_seq", [5.5, 5.0, "5", True, None, [5]])
def test_a_stream_line_whose_seq_is_not_an_integer_is_unreadable_not_rounded(unit, bad_seq):
    """The unit writes seq as a JSON integer; a line saying 5.5 (or "5", or true) was altered, and int() would
    have quietly read it as entry 5, hiding the alteration behind the real entry's hash."""
    conn, key, _ = unit
    payloads = [json.loads(p[0]) for p in conn.execute("SELECT payload FROM outbox WHERE kind = 'audit' ORDER BY seq")]
    lines = [json.dumps(p) for p in payloads]
    lines[4] = json.dumps({**payloads[4], "seq": bad_seq})
    result = verify_stream(lines, key)
    assert not result["ok"]
    assert {"problem": "unreadable_line", "line": 5, "seq": 0} in result["problems"]
