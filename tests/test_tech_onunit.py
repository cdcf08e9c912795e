"""alpr-unit-tech on the unit: diagnose (no plate leaves), decommission (refuses, syncs first, wipes)."""

from __future__ import annotations

import json
import tarfile

from firmware.storage.db import open_database
from tech_helpers import tech
from tests.mosquitto import Collector, Mosquitto, requires_mosquitto, seed_reads


def unit_root(tmp_path, port: int | None = None):
    root = tmp_path / "root"
    etc = root / "etc/alpr-unit"
    (etc / "tls").mkdir(parents=True)
    (etc / "tls/unit.key").write_text("-----BEGIN PRIVATE KEY-----\nsecret\n")
    sync = f'[sync]\nhost = "127.0.0.1"\nport = {port}\ntls = false\nagency = "durham-pd"\n' \
           'reconnect_min_s = 0.1\nreconnect_max_s = 0.5\npassword = "hunter2"\nusername = "car-9"\n' if port else ""
    (etc / "unit.toml").write_text(f'[unit]\nid = "car-9"\ndata_dir = "/var/lib/alpr-unit"\n[gps]\nsource = "none"\n'
                                   + sync)
    data = root / "var/lib/alpr-unit"
    conn = open_database(data)
    seed_reads(conn, data, 30, hits_every=7)
    conn.close()
    return root, etc / "unit.toml", data


def test_diagnose_bundle_has_the_facts_and_no_plate(tmp_path):
    root, config, data = unit_root(tmp_path, port=1)
    planted = {f"ABC{i:03d}" for i in range(30)}
    # a plate planted where nobody expects one: free text of a malfunction event
    conn = open_database(data)
    conn.execute("INSERT INTO events (id, at, kind, source, detail) VALUES ('e1', '2026-01-01T00:00:00Z', "
                 "'malfunction', 'camera:front', '{\"note\": \"stalled reading ABC007\"}')")
    conn.close()
    out = tmp_path / "out"
    out.mkdir()
    result = tech("diagnose", "--config", config, "--data-dir", data, "--out", out, "--gps-timeout", "0.1",
                  "--user", "T. Tech", "--provisioning")
    assert result.returncode == 0, result.stderr
    bundle = result.stdout.strip().splitlines()[-1]
    with tarfile.open(bundle) as tar:
        texts = {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers()}
    assert {"versions.json", "selftest.jsonl", "config.json", "database.json", "hotlists.jsonl", "chrony.txt",
            "dmesg.txt", "journal.jsonl", "redactions.json"} <= set(texts)
    everything = "\n".join(texts.values())
    assert not [p for p in planted if p in everything]
    assert "hunter2" not in everything
    database = json.loads(texts["database.json"])
    assert database["integrity_check"] == ["ok"] and database["outbox"]["queued"]["read"] == 30
    assert any(e["kind"] == "malfunction" and "<plate>" in e["detail"] for e in database["events"])
    assert json.loads(texts["versions.json"])["models"]["ocr"]
    assert json.loads(texts["redactions.json"])["plates_known"] == 30
    assert '"skipped"' not in texts["hotlists.jsonl"] + texts["maintenance.jsonl"]


def test_integrity_reports_a_broken_audit_chain_without_its_entries(tmp_path):
    import sqlite3

    root, _, data = unit_root(tmp_path)
    conn = open_database(data)
    from firmware.retention.audit import append_audit
    from firmware.storage.db import transaction

    transaction(conn, lambda c: append_audit(c, unit_id="car-9", event="query", at=__import__("datetime").datetime.now(
        __import__("datetime").timezone.utc), user="T. Tech", detail={"plate": "ABC001"}))
    conn.close()
    good = tech("integrity", "--root", root)
    assert good.returncode == 0 and json.loads(good.stdout)["audit_entries"] == 1, good.stderr
    with sqlite3.connect(data / "alpr.db") as raw:
        raw.execute("DROP TRIGGER audit_log_no_update")
        raw.execute("UPDATE audit_log SET user = 'someone else'")
    bad = tech("integrity", "--root", root)
    report = json.loads(bad.stdout)
    assert bad.returncode == 1 and not report["ok"]
    assert {p["problem"] for p in report["audit_problems"]} >= {"trigger_missing", "entry_altered"}
    assert "ABC001" not in bad.stdout and "someone else" not in bad.stdout


def test_diagnose_names_a_missing_config(tmp_path):
    result = tech("diagnose", "--config", tmp_path / "none.toml")
    assert result.returncode == 2 and "none.toml: no such file" in result.stderr and "Traceback" not in result.stderr


@requires_mosquitto
def test_decommission_refuses_unsynced_evidence_then_syncs_its_record_first_and_wipes(tmp_path):
    broker = Mosquitto(tmp_path / "broker").start()
    collector = Collector(broker.port, None, topic="alpr/v1/#").start()
    try:
        root, config, data = unit_root(tmp_path, broker.port)
        refused = tech("decommission", "--root", root, "--technician", "T. Tech")
        assert refused.returncode == 1 and "30 read" in refused.stderr
        assert (data / "alpr.db").exists() and (root / "etc/alpr-unit/tls/unit.key").exists()
        weak = tech("decommission", "--root", root, "--technician", "T. Tech", "--force", "x")
        assert weak.returncode == 2 and "reason" in weak.stderr

        done = tech("decommission", "--root", root, "--technician", "T. Tech", "--force",
                    "unit destroyed in a crash, disk removed for the evidence unit", "--sync-timeout", "60")
        assert done.returncode == 0, done.stderr
        record = json.loads((root / "var/log/alpr-unit-decommission.log").read_text().splitlines()[-1])
        assert record["delivered"] is True and record["unsynced"]["read"] == 30 and record["technician"] == "T. Tech"
        assert collector.wait_for(lambda: record["record_id"] in collector.ids.get("audit", set()), 10)
        assert list(data.iterdir()) == [] and not (root / "etc/alpr-unit/tls").exists()
        assert not (root / "etc/alpr-unit/unit.toml").exists()
    finally:
        collector.stop()
        broker.stop()


def test_decommission_will_not_wipe_when_its_record_cannot_be_delivered(tmp_path):
    root, config, data = unit_root(tmp_path, port=1)          # nothing listens on port 1
    conn = open_database(data)
    conn.execute("UPDATE outbox SET acked_at = '2026-01-01T00:00:00Z'")     # everything synced before
    conn.close()
    result = tech("decommission", "--root", root, "--technician", "T. Tech", "--sync-timeout", "3")
    assert result.returncode == 1 and "did not reach the broker" in result.stderr
    assert (data / "alpr.db").exists() and (root / "etc/alpr-unit/tls/unit.key").exists()


def test_every_subcommand_has_help_and_a_wrong_one_is_a_usage_error():
    from firmware.tech.cli import build_parser

    names = list(build_parser()._subparsers._group_actions[0].choices)
    assert {"provision", "add-cert", "install-bundle", "flash", "selftest", "diagnose", "decommission", "units",
            "migrate"} <= set(names)
    for name in names:
        shown = tech(name, "--help")
        assert shown.returncode == 0 and f"usage: alpr-unit-tech {name}" in shown.stdout
    wrong = tech("fly")
    assert wrong.returncode == 2 and "invalid choice" in wrong.stderr and "Traceback" not in wrong.stderr
    bare = tech()
    assert bare.returncode == 2 and "provision" in bare.stdout


def test_selftest_runs_the_units_selftest_and_passes_its_exit_status_on(tmp_path):
    from firmware.demo import asset, render_clip

    clip = tmp_path / "clip"
    render_clip(clip)
    config = tmp_path / "unit.toml"
    config.write_text(f'[unit]\nid = "bench"\ndata_dir = "{tmp_path / "data"}"\nmin_free_mb = 1\n[[cameras]]\n'
                      f'id = "front"\nkind = "folder"\nuri = "{clip}"\n[gps]\nsource = "file"\n'
                      f'file = "{asset("demo-route.nmea")}"\n')
    import subprocess
    import sys

    provisioned = subprocess.run([sys.executable, "-m", "firmware", "provision", "--config", str(config), "--user",
                                  "T. Tech"], capture_output=True, text=True)
    assert provisioned.returncode == 0, provisioned.stderr
    result = tech("selftest", "--config", config, "--json", "--gps-timeout", "10")
    checks = {c["check"]: c["ok"] for c in map(json.loads, result.stdout.splitlines()) if "check" in c}
    assert checks["model"] and checks["database"] and checks["camera:front"], result.stdout
    assert result.returncode == (0 if all(checks.values()) else 1)
    missing = tech("selftest", "--config", tmp_path / "nope.toml")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
