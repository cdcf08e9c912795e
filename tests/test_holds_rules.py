"""Holds that mean what they say (issue 17 item 5): specific, for this unit, with the form's facts,
telling what they cover, and append-only."""

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from firmware.retention.bench import store_read
from firmware.retention.holds import (HoldError, add_hold, all_holds, hold_facts, list_holds, release_hold,
                                      renew_hold, validate_hold)
from firmware.storage.db import open_database, transaction

UNIT = "unit-0001"
T = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
FORM = {"plate": "abc-123", "start_at": "2026-04-01T00:00:00Z", "end_at": "2026-04-03T00:00:00Z",
        "case_number": "26-001", "requesting_officer": "Det. Smith", "agency": "DPD", "statement_ref": "ALPR-1/9",
        "facts": "Vehicle seen leaving the scene of the 1 April robbery", "parties": "State v. Doe"}


def refused(form, match, **kw):
    with pytest.raises(HoldError, match=match):
        validate_hold(form, unit_id=UNIT, **kw)


def test_a_valid_request_normalises():
    row = validate_hold(FORM, unit_id=UNIT)
    assert row["plate"] == "ABC123" and row["unit_id"] == UNIT and row["facts"].startswith("Vehicle")


@pytest.mark.parametrize("facts", [None, "", ".", "see case", "needed for case 1"])
def test_facts_of_the_form_are_required(facts):
    refused({**FORM, "facts": facts}, "facts")


@pytest.mark.parametrize("ref", ["1", "..", " "])
def test_a_token_statement_reference_is_refused(ref):
    refused({**FORM, "statement_ref": ref}, "statement_ref")


def test_preservation_names_the_parties_a_warrant_need_not():
    refused({**FORM, "parties": ""}, "parties")
    assert validate_hold({**FORM, "parties": "", "kind": "warrant"}, unit_id=UNIT)["kind"] == "warrant"


@pytest.mark.parametrize("kind", ["preservation", "warrant"])
def test_without_a_plate_a_camera_and_a_bounded_window(kind):
    unplated = {**FORM, "kind": kind, "plate": None}
    refused(unplated, "plate: name the plate")
    refused({**unplated, "camera_id": "front", "end_at": "2026-04-05T00:00:00Z"}, "at most 72 hours")
    ok = {**unplated, "camera_id": "front", "end_at": "2026-04-02T12:00:00Z"}
    assert validate_hold(ok, unit_id=UNIT)["camera_id"] == "front"
    refused(ok, "at most 24 hours", max_window=timedelta(hours=24))


def test_another_units_hold_is_refused():
    refused({**FORM, "unit_id": "unit-0002"}, "names unit 'unit-0002'")
    assert validate_hold({**FORM, "unit_id": UNIT}, unit_id=UNIT)["unit_id"] == UNIT


@pytest.fixture
def conn(tmp_path):
    c = open_database(tmp_path)
    yield c
    c.close()


def test_a_hold_says_what_it_covers_when_added(conn, tmp_path):
    t0 = datetime(2026, 4, 1, 6, tzinfo=timezone.utc)
    for plate, at, images in (("ABC123", t0, True), ("ABC123", t0 + timedelta(hours=30), False),
                              ("ABC123", t0 + timedelta(days=5), True), ("XYZ999", t0, True)):
        transaction(conn, lambda c: store_read(c, tmp_path, plate, at, unit=UNIT, images=images))
    hold_id = transaction(conn, lambda c: add_hold(c, FORM, at=T, unit_id=UNIT, user="cust"))
    row = conn.execute("SELECT covered_reads, covered_images FROM holds WHERE id = ?", (hold_id,)).fetchone()
    assert tuple(row) == (2, 2)
    detail = json.loads(conn.execute("SELECT detail FROM audit_log WHERE event = 'hold_add'").fetchone()[0])
    assert detail["covers"] == {"reads": 2, "images": 2} and detail["facts"] == FORM["facts"]
    camera = {**FORM, "plate": None, "camera_id": "front", "id": "cam", "end_at": "2026-04-01T07:00:00Z"}
    transaction(conn, lambda c: add_hold(c, camera, at=T, unit_id=UNIT, user="cust"))
    assert conn.execute("SELECT covered_reads FROM holds WHERE id = 'cam'").fetchone()[0] == 2  # both plates


def test_holds_are_append_only_and_status_comes_from_events(conn):
    hold_id = transaction(conn, lambda c: add_hold(c, FORM, at=T, unit_id=UNIT, user="cust"))
    original = dict(conn.execute("SELECT * FROM holds").fetchone())
    renewed = transaction(conn, lambda c: renew_hold(c, hold_id, at=T + timedelta(days=100), unit_id=UNIT,
                                                     user="cust", statement_ref="ALPR-1/10"))
    assert renewed["renewals"] == 1 and renewed["statement_ref"] == "ALPR-1/10"
    assert renewed["expires_at"] > original["expires_at"]
    released = transaction(conn, lambda c: release_hold(c, hold_id, at=T + timedelta(days=200), unit_id=UNIT,
                                                        user="cust", reason="case closed"))
    assert released["status"] == "released" and released["release_reason"] == "case closed"
    assert dict(conn.execute("SELECT * FROM holds").fetchone()) == original       # the row never changed
    assert [r[0] for r in conn.execute("SELECT action FROM hold_events ORDER BY at")] == ["renew", "release"]
    assert [h["status"] for h in list_holds(conn, T + timedelta(days=201))] == ["released"]
    assert hold_facts(conn)[0].released_at is not None and all_holds(conn)[0]["renewals"] == 1
    for sql in ("UPDATE holds SET expires_at = '2099-01-01T00:00:00Z'", "DELETE FROM holds",
                "UPDATE hold_events SET action = 'renew'", "DELETE FROM hold_events"):
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(sql)


def test_cli_refuses_a_vague_hold_and_reports_coverage(tmp_path, capsys):
    from firmware.cli import main
    from rosters import provisioned

    provisioned(tmp_path)
    d = ["--data-dir", str(tmp_path), "--json"]
    base = ["hold", "add", *d, "--from", "2026-04-01", "--to", "2026-04-30", "--case", "26-1", "--officer", "Det. A",
            "--agency", "DPD", "--statement", "W-1", "--user", "adm.ann", "--kind", "warrant",
            "--facts", "Vehicle seen leaving the scene of the robbery"]
    assert main(base) == 2 and "plate" in capsys.readouterr().err
    assert main(base + ["--camera", "front"]) == 2 and "72 hours" in capsys.readouterr().err
    assert main(base + ["--plate", "ABC123", "--unit", "unit-9"]) == 2 and "unit" in capsys.readouterr().err
    assert main(base + ["--plate", "ABC123"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["covered_reads"] == 0 and line["covered_images"] == 0 and line["status"] == "active"


def test_a_data_dir_bound_to_another_unit_takes_no_hold(conn):
    conn.execute("CREATE TABLE IF NOT EXISTS unit_identity (id INTEGER PRIMARY KEY CHECK (id = 1), unit_id TEXT NOT NULL,"
                 " bound_at TEXT NOT NULL)")  # migration 0007 (access) makes it; here if this branch lacks it
    conn.execute("DELETE FROM unit_identity")
    conn.execute("INSERT INTO unit_identity VALUES (1, 'unit-0002', '2026-01-01T00:00:00Z')")
    with pytest.raises(HoldError, match="belongs to unit 'unit-0002'"):
        transaction(conn, lambda c: add_hold(c, FORM, at=T, unit_id=UNIT, user="cust"))
    assert conn.execute("SELECT count(*) FROM holds").fetchone()[0] == 0
