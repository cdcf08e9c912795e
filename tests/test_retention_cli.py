"""The retention commands end to end through `alpr-unit` (in-process `main`, plus one real subprocess)."""

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

from firmware.cli import main
from firmware.retention.bench import store_read
from firmware.storage.db import open_database, transaction
from rosters import install_roster


def run(capsys, *argv) -> tuple[int, list[dict], str]:
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")]
    return code, lines, captured.err


def audit_events(data_dir) -> list[tuple]:
    conn = open_database(data_dir)
    try:
        return [tuple(r) for r in conn.execute("SELECT event, user, purpose, detail FROM audit_log ORDER BY seq")]
    finally:
        conn.close()


def test_prohibited_purpose_is_refused_and_audited(tmp_path, capsys):
    now = datetime.now(timezone.utc)
    conn = open_database(tmp_path)
    transaction(conn, lambda c: store_read(c, tmp_path, "CLI1234", now - timedelta(days=1), acked_at=now))
    install_roster(conn, [{"id": "ofc.jones", "name": "J", "roles": ["officer"]},
                          {"id": "det.lee", "name": "L", "roles": ["officer"]}])
    conn.close()
    d = ["--data-dir", str(tmp_path), "--json"]
    code, lines, err = run(capsys, "query", *d, "--user", "ofc.jones", "--purpose", "Traffic Enforcement",
                           "--plate", "CLI1234")
    assert code == 1 and "refused" in err and lines[-1]["reason"] == "prohibited"
    assert not any(line.get("event") == "read" for line in lines)
    code, lines, _ = run(capsys, "query", *d, "--user", "ofc.jones", "--purpose", "not a listed purpose")
    assert code == 1 and lines[-1]["reason"] == "not_listed"
    code, lines, _ = run(capsys, "query", *d, "--user", "ofc.jones", "--purpose", "Speed enforcement")
    assert code == 1 and lines[-1]["reason"] == "prohibited"
    code, lines, _ = run(capsys, "query", *d, "--user", "det.lee", "--purpose", "stolen vehicle", "--plate",
                         "cli-1234", "--case", "2026-5")
    assert code == 0
    reads = [line for line in lines if line["event"] == "read"]
    assert [r["plate"] for r in reads] == ["CLI1234"] and lines[-1]["results"] == 1
    code, lines, _ = run(capsys, "query", *d, "--user", "det.lee", "--purpose", "stolen vehicle", "--plate", "CLI*")
    assert code == 0 and lines[-1]["results"] == 1
    every = audit_events(tmp_path)
    assert [e[0] for e in every].count("login_ok") == 5  # each command is a login
    events = [e for e in every if not e[0].startswith("login")]
    assert [e[0] for e in events] == ["query_refused"] * 3 + ["access", "query", "access", "query"]
    assert events[0][1:3] == ("ofc.jones", "traffic enforcement")
    assert json.loads(events[0][3])["terms"]["plate"] == "CLI1234"
    assert json.loads(events[0][3])["action"] == "reads.search"
    assert json.loads(events[4][3]) == {"results": 1, "terms": {"case_number": "2026-5", "limit": 1000,
                                                                "plate": "cli-1234"}}


def test_hold_lifecycle_and_purge_report(tmp_path, capsys):
    now = datetime.now(timezone.utc)
    conn = open_database(tmp_path)
    held = transaction(conn, lambda c: store_read(c, tmp_path, "HLD0001", now - timedelta(days=100),
                                                  acked_at=now - timedelta(days=99)))
    transaction(conn, lambda c: store_read(c, tmp_path, "OLD0002", now - timedelta(days=100),
                                           acked_at=now - timedelta(days=99)))
    install_roster(conn)
    conn.close()
    d = ["--data-dir", str(tmp_path), "--json"]
    tech = ["--user", "tech.tim"]
    day = (now - timedelta(days=100)).strftime("%Y-%m-%d")
    code, lines, err = run(capsys, "hold", "add", *d, "--plate", "HLD0001", "--from", day, "--to", day,
                           "--case", "2026-9", "--officer", "Det. Lee", "--agency", "DPD", "--statement", "ALPR-1/9",
                           "--user", "adm.ann", "--facts", "Vehicle seen leaving the robbery scene on 3 March", "--parties", "State v. Doe")
    assert code == 0, err
    hold_id = lines[0]["id"]
    code, _, err = run(capsys, "hold", "add", *d, "--from", day, "--to", day, "--case", "x", "--officer", "y",
                       "--agency", "z", "--statement", "s-1", "--user", "adm.ann", "--facts", "Vehicle seen leaving the robbery scene on 3 March", "--parties", "State v. Doe")
    assert code == 2 and "plate" in err  # a preservation request names the plate

    code, lines, _ = run(capsys, "purge", *d, *tech, "--dry-run")
    assert code == 0 and lines[0]["dry_run"] and lines[0]["reads"]["purged"] == 1
    code, lines, _ = run(capsys, "purge", *d, *tech)
    report = lines[0]
    assert report["reads"]["by_reason"] == {"held": 1, "legal_max_age": 1}
    assert report["kept_by_hold"] == {hold_id: 1} and report["lost_unsynced"] == 0

    code, lines, _ = run(capsys, "hold", "renew", *d, hold_id, "--user", "adm.ann", "--statement", "ALPR-1/10")
    assert code == 0 and lines[0]["renewals"] == 1 and lines[0]["statement_ref"] == "ALPR-1/10"
    code, lines, _ = run(capsys, "hold", "release", *d, hold_id, "--user", "adm.ann", "--reason", "case closed")
    assert code == 0 and lines[0]["status"] == "released"
    code, _, err = run(capsys, "hold", "renew", *d, hold_id, "--user", "adm.ann")
    assert code == 2 and "released" in err
    code, lines, _ = run(capsys, "hold", "list", *d, "--user", "aud.al")
    assert [h["id"] for h in lines] == [hold_id]
    code, lines, _ = run(capsys, "purge", *d, *tech)
    assert lines[0]["reads"]["purged"] == 1
    conn = open_database(tmp_path)
    assert conn.execute("SELECT count(*) FROM reads WHERE id = ?", (held,)).fetchone()[0] == 0
    conn.close()
    events = [e[0] for e in audit_events(tmp_path) if e[0] not in ("login_ok", "access", "access_refused")]
    assert events == ["hold_add", "purge", "hold_renew", "hold_release", "purge"]
    code, lines, _ = run(capsys, "audit", "verify", *d, *tech)
    assert code == 0 and lines[0]["entries"] == len(audit_events(tmp_path)) and lines[0]["ok"]


def test_maintenance_and_report(tmp_path, capsys):
    now = datetime.now(timezone.utc)
    conn = open_database(tmp_path)
    from firmware.retention.maintenance import record_malfunction

    transaction(conn, lambda c: record_malfunction(c, source="camera:front", at=now - timedelta(hours=3),
                                                   unit_id="u", detail={"why": "stall"}))
    transaction(conn, lambda c: record_malfunction(c, source="camera:front", at=now - timedelta(hours=2),
                                                   unit_id="u", back_in_service=True))
    transaction(conn, lambda c: record_malfunction(c, source="gps", at=now - timedelta(hours=1), unit_id="u"))
    conn.execute("UPDATE hits SET disposition = 'arrest'")  # no hits: stays empty
    install_roster(conn, [{"id": "a", "name": "A", "roles": ["officer"]},
                          {"id": "tech", "name": "T", "roles": ["technician"]},
                          {"id": "adm", "name": "Ad", "roles": ["administrator"]}])
    conn.close()
    d = ["--data-dir", str(tmp_path)]
    code, lines, _ = run(capsys, "maintenance", "add", *d, "--json", "--kind", "calibration", "--user", "tech",
                         "--description", "re-aimed rear camera", "--component", "camera:rear")
    assert code == 0
    code, lines, _ = run(capsys, "maintenance", "list", *d, "--json", "--user", "tech")
    assert [(e["type"], e["kind"]) for e in lines] == [("event", "malfunction"), ("event", "back_in_service"),
                                                       ("event", "malfunction"), ("maintenance", "calibration")]
    run(capsys, "query", *d, "--user", "a", "--purpose", "missing person")
    run(capsys, "query", *d, "--user", "a", "--purpose", "commercial")
    today, yesterday = now.strftime("%Y-%m-%d"), (now - timedelta(days=1)).strftime("%Y-%m-%d")
    code, lines, _ = run(capsys, "report", *d, "--from", yesterday, "--to", today, "--user", "adm")
    rep = lines[0]
    assert rep["queries_by_purpose"] == {"missing person": 1}
    assert rep["queries_refused_by_purpose"] == {"commercial": {"prohibited": 1}}
    assert rep["malfunctions_by_source"] == {"camera:front": 1, "gps": 1}
    assert [(i["source"], i["ongoing"]) for i in rep["out_of_service"]] == [("camera:front", False), ("gps", True)]
    assert rep["maintenance_by_kind"] == {"calibration": 1}
    capsys.readouterr()
    assert main(["report", *d, "--from", yesterday, "--to", today, "--format", "csv", "--user", "adm"]) == 0
    csv_text = capsys.readouterr().out
    assert csv_text.startswith("section,key,subkey,value") and "malfunctions_by_source,gps,,1" in csv_text


def test_cli_subprocess_purge_json(tmp_path):
    """The installed entry point, as a technician runs it."""
    tech = ["--user", "tech.tim"]
    out = subprocess.run([sys.executable, "-m", "firmware", "purge", "--data-dir", str(tmp_path), "--json", *tech],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "no unit data in" in out.stderr and not (tmp_path / "alpr.db").exists()
    conn = open_database(tmp_path)
    install_roster(conn)
    conn.close()
    out = subprocess.run([sys.executable, "-m", "firmware", "purge", "--data-dir", str(tmp_path), "--json", *tech],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.splitlines()[0])
    assert report["event"] == "purge" and report["reads"] == {"purged": 0, "kept": 0, "by_reason": {}}
    bad = tmp_path / "bad.toml"
    bad.write_text("[retention]\nlocal_retention_days = 365\n")
    out = subprocess.run([sys.executable, "-m", "firmware", "purge", "--config", str(bad), "--data-dir",
                          str(tmp_path), *tech], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "local_retention_days" in out.stderr


def test_roster_limits_who_may_query(tmp_path, capsys):
    conn = open_database(tmp_path)
    install_roster(conn, [{"id": "det.lee", "name": "Lee", "roles": ["officer"]},
                          {"id": "gone", "name": "Gone", "roles": ["officer"], "active": False}])
    conn.close()
    d = ["--data-dir", str(tmp_path), "--json"]
    assert run(capsys, "query", *d, "--user", "det.lee", "--purpose", "wanted person")[0] == 0
    for user, why in (("gone", "inactive"), ("stranger", "unknown_user")):
        code, lines, _ = run(capsys, "query", *d, "--user", user, "--purpose", "wanted person", "--plate", "X1")
        assert code == 1 and (lines[-1]["event"], lines[-1]["user"], lines[-1]["reason"]) == ("refused", user, why)
    events = audit_events(tmp_path)
    assert [e[0] for e in events] == ["login_ok", "access", "query", "login_failed", "login_failed"]
    assert json.loads(events[-1][3]) == {"method": "unknown_user", "action": "reads.search",
                                         "purpose": "wanted person", "terms": {"plate": "X1"}}
