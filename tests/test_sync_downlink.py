"""Signed downlink on a real database: good messages apply, everything else is rejected and audited."""

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings, strategies as st

from firmware.clock import ManualClock
from firmware.storage.db import Writer, open_database
from firmware.sync.config import SyncConfig
from firmware.sync.downlink import hotlist_manifest, sign
from firmware.sync.inbox import DownlinkInbox
from firmware.sync.messages import downlink_topic

AGENCY, UNIT = "cmpd", "unit-0001"
NOW = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
HOTLIST = b"ABC123;NC\nXYZ789;SC\nJKL456;VA\n"


def pub_hex(key):
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


@pytest.fixture
def agency_key():
    return Ed25519PrivateKey.generate()


@pytest.fixture
def unit(tmp_path, agency_key):
    conn = open_database(tmp_path / "data")
    writer = Writer(conn).start()
    config = SyncConfig(agency=AGENCY, downlink_public_key=pub_hex(agency_key))
    inbox = DownlinkInbox(config, writer, UNIT, ManualClock(NOW))
    yield inbox, conn
    writer.stop()
    conn.close()


def signed(key, kind, seq, data, target="all", issued=NOW, agency=AGENCY):
    return sign(key, kind=kind, agency=agency, target=target, seq=seq, data=data, issued_at=issued)


def send_hotlist(inbox, key, seq, content=HOTLIST, name="stolen", chunk_size=8, tamper=None, target="all"):
    manifest, chunks = hotlist_manifest(content, name=name, chunk_size=chunk_size, mode="replace")
    envelope = signed(key, "hotlist", seq, manifest, target=target)
    if tamper:
        envelope, chunks = tamper(envelope, chunks)
    results = [inbox.handle(downlink_topic(AGENCY, target, "hotlist", name), envelope)]
    for i, chunk in enumerate(chunks):
        results.append(inbox.handle(downlink_topic(AGENCY, target, "hotlist", name, str(seq), str(i)), chunk))
    return results


def entries(conn):
    return sorted(r[0] for r in conn.execute("SELECT plate FROM hotlist_entries"))


def security_events(conn):
    return [json.loads(r[0]) for r in conn.execute("SELECT detail FROM events WHERE kind = 'security' ORDER BY at")]


def audits(conn, event):
    return [json.loads(r[0]) for r in conn.execute("SELECT detail FROM audit_log WHERE event = ? ORDER BY seq",
                                                   (event,))]


def test_good_hotlist_loads_and_is_audited(unit, agency_key):
    inbox, conn = unit
    results = send_hotlist(inbox, agency_key, 5)
    assert results[-1] == "accepted" and set(results[:-1]) == {"pending"}
    assert entries(conn) == ["ABC123", "JKL456", "XYZ789"]
    assert audits(conn, "downlink_accepted")[0]["stream"] == "hotlist:stolen"
    assert conn.execute("SELECT seq FROM sync_downlink_state WHERE stream='hotlist:stolen'").fetchone()[0] == 5
    assert security_events(conn) == []
    # the retained manifest delivered again after a reconnect is a duplicate, not an attack
    assert send_hotlist(inbox, agency_key, 5)[0] == "duplicate"
    assert security_events(conn) == []


def test_chunks_before_their_manifest_are_not_held_and_the_manifest_asks_for_them_again(unit, agency_key):
    """Retained chunks reach a subscriber before their manifest (mosquitto sends a topic's children
    first): they are dropped unheld and counted, and the verified manifest asks the broker again."""
    inbox, conn = unit
    asked = []
    inbox.ask_broker = lambda topic_filter, subscribe: asked.append((topic_filter, subscribe)) or True
    manifest, chunks = hotlist_manifest(HOTLIST, name="stolen", chunk_size=5)
    for i, chunk in reversed(list(enumerate(chunks))):
        assert inbox.handle(downlink_topic(AGENCY, "all", "hotlist", "stolen", "9", str(i)), chunk) == "dropped"
    assert inbox.status()["transfers"]["held_bytes"] == 0
    assert inbox.handle(downlink_topic(AGENCY, "all", "hotlist", "stolen"),
                        signed(agency_key, "hotlist", 9, manifest)) == "pending"
    chunk_filter = downlink_topic(AGENCY, "all", "hotlist", "stolen", "9", "+")
    assert asked == [(chunk_filter, True)]
    results = [inbox.handle(downlink_topic(AGENCY, "all", "hotlist", "stolen", "9", str(i)), c)
               for i, c in enumerate(chunks)]
    assert results[-1] == "accepted" and len(entries(conn)) == 3
    assert asked[-1] == (chunk_filter, False)             # the extra subscription is left again
    inbox.tick()
    dropped = audits(conn, "downlink_dropped")
    assert dropped == [{"reason": "no_manifest", "messages": len(chunks), "bytes": len(HOTLIST),
                        "transfers": ["stolen/9"]}]
    assert security_events(conn) == []                    # routine on a retained list: not an alarm
    # the retained chunks of a list already loaded come again after a reconnect: ignored, not dropped
    assert inbox.handle(downlink_topic(AGENCY, "all", "hotlist", "stolen", "9", "0"), chunks[0]) == "duplicate"


def _flip_sig(envelope, chunks):
    env = json.loads(envelope)
    sig = bytearray(base64.b64decode(env["sig"]))
    sig[0] ^= 1
    env["sig"] = base64.b64encode(bytes(sig)).decode()
    return json.dumps(env).encode(), chunks


def _edit_body(envelope, chunks):
    env = json.loads(envelope)
    body = json.loads(base64.b64decode(env["body"]))
    body["data"]["mode"] = "remove"
    env["body"] = base64.b64encode(json.dumps(body).encode()).decode()
    return json.dumps(env).encode(), chunks


def _truncate_chunk(envelope, chunks):
    return envelope, chunks[:-1] + [chunks[-1][:-2]]


def _unsigned(envelope, chunks):
    env = json.loads(envelope)
    del env["sig"]
    return json.dumps(env).encode(), chunks


def _cut_envelope(envelope, chunks):
    return envelope[: len(envelope) // 2], chunks


@pytest.mark.parametrize("tamper,reason", [
    (_flip_sig, "bad_signature"), (_edit_body, "bad_signature"), (_truncate_chunk, "bad_chunk"),
    (_unsigned, "unsigned"), (_cut_envelope, "malformed"),
])
def test_tampered_hotlists_are_rejected_as_security_events(unit, agency_key, tamper, reason):
    inbox, conn = unit
    results = send_hotlist(inbox, agency_key, 7, tamper=tamper)
    assert "rejected" in results and "accepted" not in results
    assert entries(conn) == []
    events = security_events(conn)
    assert [e["reason"] for e in events] == [reason]
    assert audits(conn, "downlink_rejected")[0]["reason"] == reason
    # the event is queued for the agency too
    assert conn.execute("SELECT count(*) FROM outbox WHERE kind = 'event'").fetchone()[0] == 1


def test_replayed_hotlist_is_rejected_after_a_newer_one(unit, agency_key):
    inbox, conn = unit
    old = send_hotlist(inbox, agency_key, 3, content=b"OLD111;NC\n")
    assert old[-1] == "accepted"
    assert send_hotlist(inbox, agency_key, 4)[-1] == "accepted"
    replay = send_hotlist(inbox, agency_key, 3, content=b"OLD111;NC\n")
    assert replay[0] == "rejected"
    assert entries(conn) == ["ABC123", "JKL456", "XYZ789"]
    assert security_events(conn)[-1]["reason"] == "replay"


def test_key_of_someone_else_wrong_unit_wrong_agency_and_stale_messages_are_rejected(unit, agency_key):
    inbox, conn = unit
    mallory = Ed25519PrivateKey.generate()
    assert send_hotlist(inbox, mallory, 1)[0] == "rejected"
    roster = {"users": [{"id": "u1", "name": "A"}]}
    other_unit = signed(agency_key, "roster", 1, roster, target="unit-0002")
    assert inbox.handle(downlink_topic(AGENCY, UNIT, "roster"), other_unit) == "rejected"
    assert inbox.handle(downlink_topic(AGENCY, "unit-0002", "roster"), other_unit) == "rejected"
    assert inbox.handle(downlink_topic(AGENCY, "all", "roster"),
                        signed(agency_key, "roster", 1, roster, agency="other")) == "rejected"
    assert inbox.handle(downlink_topic(AGENCY, "all", "roster"),
                        signed(agency_key, "roster", 1, roster, issued=NOW - timedelta(days=90))) == "rejected"
    assert inbox.handle(downlink_topic(AGENCY, "all", "hold"), signed(agency_key, "roster", 1, roster)) == "rejected"
    reasons = [e["reason"] for e in security_events(conn)]
    assert reasons == ["bad_signature", "wrong_target", "wrong_target", "wrong_agency", "expired", "wrong_topic"]
    assert conn.execute("SELECT count(*) FROM roster").fetchone()[0] == 0


def test_without_a_configured_key_nothing_is_trusted(tmp_path, agency_key):
    conn = open_database(tmp_path)
    writer = Writer(conn).start()
    inbox = DownlinkInbox(SyncConfig(agency=AGENCY), writer, UNIT, ManualClock(NOW))
    assert send_hotlist(inbox, agency_key, 1)[0] == "rejected"
    assert security_events(conn)[0]["reason"] == "no_key"
    writer.stop()


def test_roster_replaces_users_and_deactivates_the_missing(unit, agency_key):
    inbox, conn = unit
    topic = downlink_topic(AGENCY, UNIT, "roster")
    first = {"users": [{"id": "a", "name": "Ann", "roles": ["officer"], "credential": "$argon2id$v=19$x"},
                       {"id": "b", "name": "Bob", "roles": ["supervisor"]}]}
    assert inbox.handle(topic, signed(agency_key, "roster", 10, first, target=UNIT)) == "accepted"
    second = {"users": [{"id": "a", "name": "Ann", "roles": ["officer", "auditor"]}]}
    assert inbox.handle(topic, signed(agency_key, "roster", 11, second, target=UNIT)) == "accepted"
    rows = {r["user_id"]: r for r in conn.execute("SELECT * FROM roster")}
    assert rows["a"]["active"] == 1 and json.loads(rows["a"]["roles"]) == ["officer", "auditor"]
    assert rows["b"]["active"] == 0
    assert rows["a"]["trained_on"] is None   # a message from before the access rule stays valid: untrained
    trained = {"recert_days": 365, "users": [
        {"id": "a", "name": "Ann", "roles": ["admin"], "trained_on": "2026-01-15"},
        {"id": "b", "name": "Bob", "roles": ["supervisor"], "trained_on": "2025-06-01", "recert_days": 730}]}
    assert inbox.handle(topic, signed(agency_key, "roster", 13, trained, target=UNIT)) == "accepted"
    rows = {r["user_id"]: r for r in conn.execute("SELECT * FROM roster")}
    assert (rows["a"]["trained_on"], rows["a"]["recert_days"], json.loads(rows["a"]["roles"])) == (
        "2026-01-15", 365, ["administrator"])
    assert (rows["b"]["trained_on"], rows["b"]["recert_days"], rows["b"]["active"]) == ("2025-06-01", 730, 1)
    bad_date = {"users": [{"id": "d", "name": "Di", "trained_on": "yesterday"}]}
    assert inbox.handle(topic, signed(agency_key, "roster", 14, bad_date, target=UNIT)) == "rejected"
    clear_secret = {"users": [{"id": "c", "name": "Cy", "credential": "hunter2"}]}
    assert inbox.handle(topic, signed(agency_key, "roster", 15, clear_secret, target=UNIT)) == "rejected"
    assert security_events(conn)[-1]["reason"] == "invalid"


def test_config_change_is_validated_then_stored_never_applied_blindly(unit, agency_key):
    inbox, conn = unit
    topic = downlink_topic(AGENCY, "all", "config")
    good = {"overlay": {"hotlist": {"max_age_hours": 12}}}
    assert inbox.handle(topic, signed(agency_key, "config", 1, good)) == "accepted"
    row = conn.execute("SELECT overlay, status FROM config_changes").fetchone()
    assert json.loads(row[0]) == good["overlay"] and row[1] == "pending"
    for seq, overlay, reason in [(2, {"hotlist": {"max_age_hours": -5}}, "invalid"),
                                 (3, {"sync": {"downlink_public_key": "00" * 32}}, "protected_config"),
                                 (4, {"nonsense": {"x": 1}}, "invalid")]:
        assert inbox.handle(topic, signed(agency_key, "config", seq, {"overlay": overlay})) == "rejected"
        assert security_events(conn)[-1]["reason"] == reason
    assert conn.execute("SELECT count(*) FROM config_changes").fetchone()[0] == 1


def test_holds_go_through_the_retention_functions(unit, agency_key):
    pytest.importorskip("firmware.retention.holds")
    inbox, conn = unit
    topic = downlink_topic(AGENCY, UNIT, "hold")
    hold = {"id": "h-1", "plate": "ABC123", "start_at": "2026-04-01T00:00:00Z", "end_at": "2026-04-02T00:00:00Z",
            "case_number": "26-001", "requesting_officer": "Det. Smith", "agency": "CMPD", "statement_ref": "SR-9",
            "facts": "Vehicle seen leaving the scene of the robbery on 3 March", "parties": "State v. Doe, case 26-1"}
    assert inbox.handle(topic, signed(agency_key, "hold", 1, {"action": "add", "hold": hold}, target=UNIT)) \
        == "accepted"
    row = conn.execute("SELECT plate, source, created_by FROM holds WHERE id = 'h-1'").fetchone()
    assert tuple(row) == ("ABC123", "downlink", "agency-downlink")
    assert inbox.handle(topic, signed(agency_key, "hold", 2, {"action": "release", "id": "h-1", "reason": "closed"},
                                      target=UNIT)) == "accepted"
    assert [tuple(r) for r in conn.execute("SELECT action, source FROM hold_events WHERE hold_id = 'h-1'")] == [
        ("release", "downlink")]  # the holds row itself never changes
    # a hold the retention module refuses (no case number) is rejected, and nothing is half-applied
    bad = dict(hold, id="h-2", case_number="")
    assert inbox.handle(topic, signed(agency_key, "hold", 3, {"action": "add", "hold": bad}, target=UNIT)) \
        == "rejected"
    assert conn.execute("SELECT count(*) FROM holds").fetchone()[0] == 1
    assert conn.execute("SELECT seq FROM sync_downlink_state WHERE stream='hold'").fetchone()[0] == 2


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode),
                         st.dictionaries(st.sampled_from(["schema", "body", "sig", "x"]),
                                         st.one_of(st.integers(), st.text(max_size=20), st.none()))
                         .map(lambda d: json.dumps(d).encode())),
       kind=st.sampled_from(["hotlist", "roster", "hold", "config"]))
def test_garbage_from_the_broker_is_only_ever_rejected(unit, payload, kind):
    inbox, conn = unit
    rest = ("stolen",) if kind == "hotlist" else ()
    expected = "rejected" if payload else "cleared"   # zero bytes = a retained message was cleared
    assert inbox.handle(downlink_topic(AGENCY, "all", kind, *rest), payload) == expected
    assert conn.execute("SELECT count(*) FROM sync_downlink_state").fetchone()[0] == 0


def test_clearing_a_retained_message_is_not_an_attack(unit):
    inbox, conn = unit
    assert inbox.handle(downlink_topic(AGENCY, "all", "hotlist", "stolen"), b"") == "cleared"
    assert inbox.handle(downlink_topic(AGENCY, "all", "roster"), b"") == "cleared"
    assert security_events(conn) == []


def test_agency_tools_keygen_and_sign_produce_what_the_unit_accepts(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    run = lambda *a: subprocess.run([sys.executable, "-m", "firmware", "sync", *a], cwd=repo,  # noqa: E731
                                    capture_output=True, text=True, timeout=60)
    made = run("keygen", "--out", str(tmp_path / "agency.key"))
    assert made.returncode == 0, made.stderr
    public = json.loads(made.stdout)["downlink_public_key"]
    assert run("keygen", "--out", str(tmp_path / "agency.key")).returncode == 2   # never overwrites a key (bad usage)
    (tmp_path / "roster.json").write_text(json.dumps({"users": [{"id": "a", "name": "Ann"}]}))
    signed_env = run("sign", "--key", str(tmp_path / "agency.key"), "--kind", "roster", "--agency", AGENCY,
                     str(tmp_path / "roster.json"))
    assert signed_env.returncode == 0, signed_env.stderr
    conn = open_database(tmp_path / "data")
    writer = Writer(conn).start()
    inbox = DownlinkInbox(SyncConfig(agency=AGENCY, downlink_public_key=public), writer, UNIT,
                          ManualClock(datetime.now(timezone.utc)))
    assert inbox.handle(downlink_topic(AGENCY, "all", "roster"), signed_env.stdout.strip().encode()) == "accepted"
    writer.stop()
    assert conn.execute("SELECT name FROM roster").fetchone()[0] == "Ann"


def test_whole_list_downlink_loads_in_short_transactions(unit, agency_key):
    """A replace list is staged batch by batch (staged.py), so reads are written between its batches."""
    inbox, conn = unit
    plates = [f"K{i:06d}" for i in range(45_000)]  # three staging batches of 20,000
    content = "".join(f"{p};NC\n" for p in plates).encode()
    jobs_before = inbox.writer.jobs_done
    assert send_hotlist(inbox, agency_key, 11, content=content, chunk_size=64_000)[-1] == "accepted"
    assert entries(conn) == plates
    assert inbox.writer.jobs_done - jobs_before >= 5  # replay check, 3 batches, swap (+ clean-up)
    load = audits(conn, "hotlist.import")[-1]
    assert load["staged"] is True and load["accepted"] == 45_000
    accepted = audits(conn, "downlink_accepted")[-1]
    assert accepted["seq"] == 11 and accepted["summary"]["report"]["accepted"] == 45_000
    assert conn.execute("SELECT count(*) FROM hotlists WHERE staging = 1").fetchone()[0] == 0
    # the same list again with a stale sequence number is refused before anything is staged
    assert send_hotlist(inbox, agency_key, 10, content=b"OLD111;NC\n")[0] == "rejected"
    assert entries(conn) == plates


def test_a_replay_landing_during_a_staged_load_abandons_it(unit, agency_key, monkeypatch):
    """The sequence number is checked again in the swap's transaction; losing there leaves no staged rows."""
    inbox, conn = unit
    assert send_hotlist(inbox, agency_key, 3)[-1] == "accepted"
    import firmware.hotlist.staged as staged

    real = staged._swap_in

    def newer_message_lands_first(c, *args, **kw):
        c.execute("UPDATE sync_downlink_state SET seq = 9 WHERE stream = 'hotlist:stolen'")
        return real(c, *args, **kw)

    monkeypatch.setattr(staged, "_swap_in", newer_message_lands_first)
    assert send_hotlist(inbox, agency_key, 4, content=b"NEW111;NC\n")[-1] == "rejected"
    assert entries(conn) == ["ABC123", "JKL456", "XYZ789"]
    assert conn.execute("SELECT count(*) FROM hotlists WHERE staging = 1").fetchone()[0] == 0
    assert conn.execute("SELECT seq FROM sync_downlink_state WHERE stream='hotlist:stolen'").fetchone()[0] == 3
