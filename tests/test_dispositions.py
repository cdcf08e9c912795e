import json
import subprocess
from datetime import datetime, timezone

import pytest

from conftest import alpr_unit_cmd
from firmware.dispositions import DispositionError, record_disposition
from firmware.records import Hit, Read
from firmware.retention.audit import verify_chain
from firmware.storage.db import open_database, transaction
from firmware.storage.reads import save_read
from rosters import install_roster

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def unit(tmp_path):
    conn = open_database(tmp_path)
    install_roster(conn, [{"id": "ofc.ray", "name": "Ray", "roles": ["officer"]},
                          {"id": "a", "name": "A", "roles": ["officer"]}])
    read = Read(id="read-1", unit_id="u1", camera_id="front", plate="ABC123", plate_raw="ABC123", state="NC",
                confidence=0.9, char_confidences=(0.9,) * 6, frames=3, box=(0, 0, 10, 5), captured_at=NOW,
                first_seen_at=NOW, clock_source="gps", frame_seq=1, capture_mono_ns=1,
                hits=(Hit("ncic", "ABC123", "NC", "stolen vehicle", 0, "exact"),))
    transaction(conn, lambda c: save_read(c, read, NOW))
    hit_id = conn.execute("SELECT id FROM hits").fetchone()[0]
    return tmp_path, conn, hit_id


def test_disposition_is_stored_audited_and_queued(unit):
    _, conn, hit_id = unit
    transaction(conn, lambda c: record_disposition(c, hit_id, disposition="recovery", user="ofc.ray", at=NOW,
                                                   unit_id="u1", note="owner notified"))
    row = conn.execute("SELECT disposition, disposed_by FROM hits WHERE id = ?", (hit_id,)).fetchone()
    assert tuple(row) == ("recovery", "ofc.ray")
    audit = conn.execute("SELECT event, user, detail FROM audit_log").fetchall()
    assert [(a[0], a[1]) for a in audit] == [("hit_disposition", "ofc.ray")]
    assert json.loads(audit[0][2])["disposition"] == "recovery"
    assert conn.execute("SELECT count(*) FROM outbox WHERE kind = 'disposition'").fetchone()[0] == 1
    assert verify_chain(conn)["ok"]


def test_second_disposition_needs_amend(unit):
    _, conn, hit_id = unit
    transaction(conn, lambda c: record_disposition(c, hit_id, disposition="misread", user="a", at=NOW, unit_id="u1"))
    with pytest.raises(DispositionError, match="already"):
        transaction(conn, lambda c: record_disposition(c, hit_id, disposition="arrest", user="a", at=NOW, unit_id="u1"))
    transaction(conn, lambda c: record_disposition(c, hit_id, disposition="arrest", user="a", at=NOW, unit_id="u1",
                                                   amend=True))
    assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 2


@pytest.mark.parametrize("kwargs, message", [
    ({"disposition": "looked fine"}, "unknown disposition"),
    ({"user": ""}, "user id"),
])
def test_bad_dispositions_are_refused_and_change_nothing(unit, kwargs, message):
    _, conn, hit_id = unit
    args = {"disposition": "arrest", "user": "a", "at": NOW, "unit_id": "u1", **kwargs}
    with pytest.raises(DispositionError, match=message):
        transaction(conn, lambda c: record_disposition(c, hit_id, **args))
    assert conn.execute("SELECT disposition FROM hits").fetchone()[0] is None
    assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 0


def test_cli_list_is_audited_and_verify_works(unit):
    data, conn, hit_id = unit
    base = [*alpr_unit_cmd(), "hit"]
    listed = subprocess.run([*base, "list", "--data-dir", str(data), "--user", "ofc.ray", "--json"],
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout.splitlines()[0])["id"] == hit_id
    verified = subprocess.run([*base, "verify", hit_id, "--disposition", "not_current", "--user", "ofc.ray",
                               "--data-dir", str(data), "--json"], capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0 and json.loads(verified.stdout)["ok"]
    events = [r[0] for r in conn.execute("SELECT event FROM audit_log ORDER BY seq")]
    assert events == ["login_ok", "query", "login_ok", "hit_disposition"]
