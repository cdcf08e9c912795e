"""Officer login against the agency roster: hashes, every attempt audited, lockout, and the CLI."""

import json
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from conftest import alpr_unit_cmd
from firmware.auth import MAX_FAILURES, CredentialFormatError, hash_credential, login, verify_credential
from firmware.storage.db import open_database, transaction
from rosters import install_roster

NOW = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
FAST = {"ln": 10}  # tests need not be memory-hard


def test_hash_verifies_only_its_own_secret():
    stored = hash_credential("4711", **FAST)
    assert stored.startswith("$scrypt$ln=10,r=8,p=1$")
    assert verify_credential(stored, "4711")
    assert not verify_credential(stored, "4712") and not verify_credential(stored, "")
    assert hash_credential("4711", **FAST) != stored  # salted


@pytest.mark.parametrize("stored", ["$bcrypt$2b$12$abc", "$scrypt$ln=10$AAAA", "$scrypt$ln=99,r=8,p=1$AAAA$AAAA",
                                    "$scrypt$ln=10,r=8,p=1$not base64!$AAAA", "plain"])
def test_unusable_hashes_are_errors_not_refusals(stored):
    with pytest.raises(CredentialFormatError):
        verify_credential(stored, "4711")


@pytest.fixture
def db(tmp_path):
    conn = open_database(tmp_path)
    install_roster(conn, [{"id": "ofc.ray", "name": "Ray", "roles": ["officer"], "credential": hash_credential(
        "4711", **FAST)}, {"id": "ofc.nopin", "name": "N"},
        {"id": "ofc.gone", "name": "G", "credential": hash_credential("1", **FAST), "active": False}])
    yield tmp_path, conn
    conn.close()


def attempt(conn, user, secret, at=NOW):
    return transaction(conn, lambda c: login(c, user, secret, purpose="hit verification", at=at, unit_id="u1"))


def audit(conn):
    return [(r[0], r[1], json.loads(r[2]).get("method")) for r in
            conn.execute("SELECT event, user, detail FROM audit_log ORDER BY seq")]


def test_each_roster_case_decides_and_is_audited(db):
    _, conn = db
    cases = [("ofc.ray", "4711", True, "credential"), ("ofc.ray", "0000", False, "wrong_secret"),
             ("ofc.ray", None, False, "no_secret"), ("ofc.nopin", None, True, "no_credential"),
             ("ofc.gone", "1", False, "inactive"), ("stranger", "4711", False, "unknown_user"),
             ("", "4711", False, "unknown_user")]
    for user, secret, ok, why in cases:
        result = attempt(conn, user, secret)
        assert (result.ok, result.reason) == (ok, why)
    assert audit(conn) == [("login_ok" if ok else "login_failed", user or None, why) for user, _, ok, why in cases]


def test_repeated_failures_lock_the_user_until_the_window_passes(db):
    _, conn = db
    for i in range(MAX_FAILURES):
        assert attempt(conn, "ofc.ray", f"bad{i}", NOW + timedelta(seconds=i)).reason == "wrong_secret"
    locked = attempt(conn, "ofc.ray", "4711", NOW + timedelta(minutes=1))
    assert not locked.ok and locked.reason == "locked"  # even the right PIN, while locked
    assert audit(conn)[-1] == ("login_locked", "ofc.ray", "locked")
    assert attempt(conn, "ofc.nopin", None, NOW + timedelta(minutes=1)).ok  # others are not affected
    assert attempt(conn, "ofc.ray", "4711", NOW + timedelta(minutes=16)).ok
    # a success resets the count
    assert attempt(conn, "ofc.ray", "bad", NOW + timedelta(minutes=17)).reason == "wrong_secret"
    assert attempt(conn, "ofc.ray", "4711", NOW + timedelta(minutes=18)).ok


def test_no_roster_refuses_named_users_audited(tmp_path):
    conn = open_database(tmp_path)
    result = attempt(conn, "ofc.any", None)
    assert not result.ok and result.reason == "no_roster"
    assert audit(conn) == [("login_failed", "ofc.any", "no_roster")]


def test_the_hit_list_command_asks_for_the_pin(db):
    data, conn = db
    base = [*alpr_unit_cmd(), "hit", "list", "--data-dir", str(data), "--user", "ofc.ray", "--json"]

    def run(pin=None):
        extra = ["--pin-stdin"] if pin is not None else []
        return subprocess.run(base + extra, input=(pin + "\n") if pin is not None else "", capture_output=True,
                              text=True, timeout=60)

    refused = run()
    assert refused.returncode == 1 and "PIN" in json.loads(refused.stdout)["error"]
    wrong = run("1234")
    assert wrong.returncode == 1 and "wrong PIN" in json.loads(wrong.stdout)["error"]
    assert run("4711").returncode == 0
    events = [(e, m) for e, _, m in audit(conn) if e.startswith("login")]
    assert events == [("login_failed", "no_secret"), ("login_failed", "wrong_secret"), ("login_ok", "credential")]
    # the PIN is never stored or logged
    rows = conn.execute("SELECT detail FROM audit_log").fetchall()
    assert not any("4711" in r[0] or "1234" in r[0] for r in rows)


def test_the_agency_tool_makes_hashes_the_unit_accepts():
    out = subprocess.run([*alpr_unit_cmd(), "sync", "hash-credential", "--stdin"], input="s3cret-pin\n",
                         capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    assert verify_credential(out, "s3cret-pin") and not verify_credential(out, "s3cret-pio")
    from firmware.sync.downlink import RosterUser

    assert RosterUser(id="ofc.ray", name="Ray", roles=["officer"], credential=out).credential == out
    short = subprocess.run([*alpr_unit_cmd(), "sync", "hash-credential", "--stdin"], input="12\n",
                           capture_output=True, text=True, timeout=60)
    assert short.returncode == 2 and "at least 4" in short.stderr      # a bad value: README's exit code 2
