"""The annual report on a constructed data set: every figure pinned, before and after the reads are purged.

Hits are stored, checked, disposed of, amended and given outcomes through the real functions
(firmware.dispositions); the roster through the table the downlink writes; holds through the hold log.
"""

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware.clock import ManualClock, iso_utc
from firmware.dispositions import mark_unacknowledged, record_check, record_disposition, record_outcome
from firmware.ids import new_id
from firmware.retention.audit import append_audit, verify_chain
from firmware.retention.bench import store_read
from firmware.retention.config import RetentionConfig
from firmware.retention.holds import add_hold, release_hold, renew_hold
from firmware.retention.purge import Purger
from firmware.retention.report import build_report, canonical, store_report
from firmware.storage.db import open_database, transaction
from rosters import install_roster

UNIT = "unit-0001"
START, END = datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2027, 1, 1, tzinfo=timezone.utc)
NOW = datetime(2027, 1, 5, tzinfo=timezone.utc)


def day(month, d, hour=12):
    return datetime(2026, month, d, hour, tzinfo=timezone.utc)


def add_hit(conn, data, at, *, list_name="ncic", list_age_s=None, historical=0):
    rid = store_read(conn, data, f"P{new_id()[-6:].upper()}", at, unit=UNIT)
    hid = new_id()
    conn.execute("INSERT INTO hits (id, read_id, list_name, list_age_s, entry_plate, match, historical, created_at)"
                 " VALUES (?, ?, ?, ?, 'X', 'exact', ?, ?)", (hid, rid, list_name, list_age_s, historical, iso_utc(at)))
    return hid


def confirm_checks(c, hid, user, at):
    for check, result in (("plate", "match"), ("state", "match"), ("dispatch", "confirmed")):
        record_check(c, hid, check=check, result=result, user=user, at=at, unit_id=UNIT)


@pytest.fixture
def unit(tmp_path):
    conn = open_database(tmp_path)
    install_roster(conn, [
        {"id": "alice", "name": "Alice", "roles": ["officer"], "trained_on": "2026-03-01", "recert_days": 365},
        {"id": "bob", "name": "Bob", "roles": ["officer"], "trained_on": "2025-06-01", "recert_days": 365},
        {"id": "carol", "name": "Carol", "roles": ["supervisor"], "trained_on": "2026-01-20", "recert_days": 365},
        {"id": "dave", "name": "Dave", "roles": ["officer"], "active": False, "trained_on": "2025-01-01"},
        {"id": "erin", "name": "Erin", "roles": ["officer"], "trained_on": None},
        {"id": "aud.al", "name": "Al", "roles": ["auditor"], "trained_on": "2026-06-01"}])
    # bob's training lapsed 2026-06-01; carol's is due 2027-01-20; erin was never trained

    def build(c):
        for user in ("alice", "carol"):
            append_audit(c, unit_id=UNIT, event="login_ok", at=day(2, 1), user=user)
        append_audit(c, unit_id=UNIT, event="login_failed", at=day(2, 2), user="bob")
        h = {}
        h[1] = add_hit(c, data, day(3, 1), list_age_s=3600)
        h[2] = add_hit(c, data, day(4, 1), list_age_s=90000)
        h[3] = add_hit(c, data, day(5, 1), list_name="manual")
        h[4] = add_hit(c, data, day(6, 1), list_age_s=7200)
        h[5] = add_hit(c, data, day(7, 1), list_age_s=100)
        h[6] = add_hit(c, data, day(8, 1), list_age_s=50, historical=1)
        h[7] = add_hit(c, data, datetime(2025, 12, 31, tzinfo=timezone.utc), list_age_s=10)  # before the period
        confirm_checks(c, h[1], "alice", day(3, 1, 13))
        record_disposition(c, h[1], disposition="confirmed_stop", user="alice", at=day(3, 1, 14), unit_id=UNIT)
        record_outcome(c, h[1], outcome="arrest", user="alice", at=day(3, 1, 15), unit_id=UNIT)
        record_outcome(c, h[1], outcome="seizure", user="alice", at=day(3, 1, 15), unit_id=UNIT)
        confirm_checks(c, h[2], "alice", day(4, 1, 13))
        record_disposition(c, h[2], disposition="confirmed_no_action", user="alice", at=day(4, 1, 14), unit_id=UNIT)
        record_disposition(c, h[2], disposition="confirmed_stop", user="carol", at=day(4, 2), unit_id=UNIT,
                           amend=True, amend_reason="the stop was made after all")
        record_outcome(c, h[2], outcome="recovery", user="alice", at=day(4, 2, 13), unit_id=UNIT)
        record_disposition(c, h[3], disposition="misread", user="alice", at=day(5, 1, 13), unit_id=UNIT)
        record_disposition(c, h[7], disposition="misread", user="alice", at=day(1, 2), unit_id=UNIT)
        assert sorted(mark_unacknowledged(c, now=day(9, 1), after=timedelta(minutes=5), unit_id=UNIT)) \
            == sorted([h[4], h[5]])
        record_disposition(c, h[5], disposition="misread", user="alice", at=day(9, 2), unit_id=UNIT)
        for purpose in ("stolen vehicle", "stolen vehicle", "missing person"):
            append_audit(c, unit_id=UNIT, event="query", at=day(10, 1), user="alice", purpose=purpose)
        append_audit(c, unit_id=UNIT, event="query_refused", at=day(10, 2), user="bob", purpose="traffic enforcement",
                     detail={"reason": "prohibited"})
        hold = add_hold(c, {"plate": "HLD1", "start_at": day(3, 1), "end_at": day(3, 2), "case_number": "26-1",
                            "requesting_officer": "Det. A", "agency": "DPD", "statement_ref": "ALPR-1/5",
                            "facts": "Vehicle seen leaving the robbery on 1 March", "parties": "State v. Doe"},
                        at=day(3, 5), unit_id=UNIT, user="carol")
        renew_hold(c, hold, at=day(6, 5), unit_id=UNIT, user="carol")
        release_hold(c, hold, at=day(11, 5), unit_id=UNIT, user="carol", reason="case closed")
        return h

    data = tmp_path
    hits = transaction(conn, build)
    yield conn, hits, tmp_path
    conn.close()


EXPECTED_HITS = {
    "total": 6, "live": 5, "historical": 1, "by_list": {"ncic": 5, "manual": 1},
    "by_disposition": {"confirmed_stop": 2, "misread": 2, "none": 2},
    "by_kind": {"confirm": 2, "reject": 2, "no_disposition": 2},
    "disposition_amendments": 1, "no_disposition": 2,
    "unacknowledged": {"total": 2, "answered_later": 1, "never_answered": 1},
    "outcomes": {"arrest": 1, "seizure": 1, "recovery": 1}, "successful_uses": 2,
    "hotlist_currency": {"hits_with_list_age": 5, "oldest_list_age_s": 90000.0, "median_list_age_s": 3600.0,
                         "hits_on_list_older_than_24h": 1, "hits_without_list_age": 1},
}


def test_every_figure_of_the_report(unit):
    conn, _, _ = unit
    report = build_report(conn, START, END, NOW)
    assert report["hits"] == EXPECTED_HITS
    assert report["roster_review"] == {
        "users": 6, "active": 5, "inactive": ["dave"], "active_without_use_in_period": ["aud.al", "bob", "erin"],
        "roles": {"officer": 3, "supervisor": 1, "auditor": 1},
        "training": {"untrained": ["erin"], "lapsed": ["bob"], "due_within_30_days": ["carol"],
                     "trained_in_period": ["alice", "aud.al", "carol"]}}
    assert report["logins_per_user"] == {"alice": {"login_ok": 1}, "bob": {"login_failed": 1},
                                         "carol": {"login_ok": 1}}
    assert report["queries_by_purpose"] == {"stolen vehicle": 2, "missing person": 1}
    assert report["queries_refused_by_purpose"] == {"traffic enforcement": {"prohibited": 1}}
    assert report["holds"] == {"added": 1, "renewed": 1, "released": 1, "active_at_end": 0}


def test_figures_survive_the_purge_of_the_reads_and_hits(unit):
    conn, _, data = unit
    purge = Purger(RetentionConfig(), data, UNIT, ManualClock(NOW), run_job=lambda fn: transaction(conn, fn)).run()
    assert purge["reads"]["purged"] == 7 and conn.execute("SELECT count(*) FROM hits").fetchone()[0] == 0
    assert build_report(conn, START, END, NOW)["hits"] == EXPECTED_HITS
    assert verify_chain(conn)["ok"]


def test_stored_signed_and_queued_for_sync(unit):
    conn, _, _ = unit
    key = Ed25519PrivateKey.generate()
    report = build_report(conn, START, END, NOW)
    record = transaction(conn, lambda c: store_report(c, report, at=NOW, unit_id=UNIT, user="carol", signing_key=key))
    row = conn.execute("SELECT body, signature, public_key FROM reports WHERE id = ?", (record["id"],)).fetchone()
    assert row[0].encode() == canonical(report) and json.loads(row[0])["hits"] == EXPECTED_HITS
    key.public_key().verify(base64.b64decode(row[1]), row[0].encode())  # raises if the signature is bad
    assert row[2] == key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    queued = json.loads(conn.execute("SELECT payload FROM outbox WHERE kind = 'report' AND record_id = ?",
                                     (record["id"],)).fetchone()[0])
    assert queued["signature"] == row[1] and queued["body"] == row[0] and queued["signed"] == "Ed25519"
    unsigned = transaction(conn, lambda c: store_report(c, report, at=NOW, unit_id=UNIT, user="carol"))
    assert unsigned["signature"] is None and unsigned["signed"].startswith("unsigned")
    assert [r[0] for r in conn.execute("SELECT event FROM audit_log WHERE event = 'report'")] == ["report", "report"]


def test_cli_report_stores_signs_with_the_configured_key(unit, tmp_path, capsys):
    from firmware.cli import main

    conn, _, data = unit
    key = Ed25519PrivateKey.generate()
    pem = tmp_path / "report.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    config = tmp_path / "unit.toml"
    config.write_text(f'[unit]\nid = "{UNIT}"\ndata_dir = "{data}"\n[retention]\nreport_signing_key = "{pem}"\n')
    assert main(["report", "--config", str(config), "--from", "2026-01-01", "--to", "2026-12-31",
                 "--user", "aud.al"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["hits"]["total"] == 6 and "Ed25519" in out.err
    body, sig = conn.execute("SELECT body, signature FROM reports").fetchone()
    key.public_key().verify(base64.b64decode(sig), body.encode())
