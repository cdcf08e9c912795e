"""Issue 17 item 6 end to end: the support bundle holds no plate of the unit's data, and after a purge a
plate the real daemon read appears nowhere: not in the data dir (database and WAL bytes, images, alert
files), not in the journal lines the daemon wrote, not in a diagnose bundle."""

import json
import sqlite3
import subprocess
import sys
import tarfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import REPO, alpr_unit_cmd
from firmware.demo import DEMO_PLATES, asset, render_clip
from firmware.retention.audit import append_audit
from firmware.retention.bench import store_read
from firmware.storage.db import open_database, transaction
from rosters import provisioned


def write_config(path: Path, data_dir: Path, clip: Path | None = None, retention_days: float = 7.0) -> Path:
    camera = f"""
[[cameras]]
id = "front"
kind = "folder"
uri = "{clip}"
fps = 20
loop = false
queue_size = 64

[gps]
source = "file"
file = "{asset('demo-route.nmea')}"
""" if clip else ""
    path.write_text(f"""
[unit]
id = "purge-unit"
data_dir = "{data_dir}"
min_free_mb = 1
{camera}
[alerts]
sinks = ["log", "recording"]

[retention]
local_retention_days = {retention_days}

[logging]
format = "json"
""")
    return path


def diagnose(tmp_path: Path, config: Path, journal_lines: list[str]) -> dict[str, bytes]:
    """Run scripts/diagnose.sh with this checkout's firmware and a journal holding `journal_lines`
    (journalctl is the system's; here a script prints what the daemon wrote). Returns the bundle's files."""
    journal = tmp_path / "journal.txt"
    journal.write_text("\n".join(journal_lines) + "\n")
    fake_journalctl = tmp_path / "journalctl"
    fake_journalctl.write_text(f'#!/bin/sh\ncat "{journal}"\n')
    fake_journalctl.chmod(0o755)
    wrapper = tmp_path / "alpr-unit"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{REPO}" exec "{sys.executable}" -m firmware "$@"\n')
    wrapper.chmod(0o755)
    out = tmp_path / "bundle"
    out.mkdir(exist_ok=True)
    result = subprocess.run(["scripts/diagnose.sh", "--config", str(config), "--out", str(out)], cwd=REPO,
                            capture_output=True, text=True, timeout=300,
                            env={"PATH": "/usr/bin:/bin", "ALPR": str(wrapper), "JOURNALCTL": str(fake_journalctl)})
    assert result.returncode == 0, result.stderr
    with tarfile.open(result.stdout.strip().splitlines()[-1]) as tar:
        return {m.name.lstrip("./"): tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_diagnose_bundle_holds_no_plate_of_the_units_data(tmp_path):
    data = tmp_path / "data"
    config = write_config(tmp_path / "unit.toml", data)
    conn = open_database(data)
    now = datetime.now(timezone.utc)
    planted = ["PLT1234", "HIT5678", "QRY4242"]
    transaction(conn, lambda c: store_read(c, data, "PLT1234", now, unit="purge-unit"))
    transaction(conn, lambda c: store_read(c, data, "HIT5678", now, unit="purge-unit", hit=True))
    transaction(conn, lambda c: append_audit(c, unit_id="purge-unit", event="query", at=now, user="det",
                                             purpose="stolen vehicle", detail={"terms": {"plate": "QRY4242"}}))
    conn.close()
    journal = [json.dumps({"level": "WARNING", "msg": f"HOTLIST HIT {p} list=stolen"}) for p in planted]
    journal.append(json.dumps({"level": "INFO", "msg": "camera front reopened, code ZZZ9999"}))  # not a stored plate
    bundle = diagnose(tmp_path, config, journal)
    assert {"journal.jsonl", "selftest.jsonl", "config.json", "audit-verify.json", "scrub.json"} <= set(bundle)
    for name, content in bundle.items():
        for plate in planted:
            assert plate.encode() not in content, (plate, name)
    assert bundle["journal.jsonl"].count(b"<plate>") == 3 and b"ZZZ9999" in bundle["journal.jsonl"]
    assert json.loads(bundle["scrub.json"])["replaced"]["journal.jsonl"] == 3


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clip")
    render_clip(folder)
    return folder


def files_containing(root: Path, needle: bytes) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_after_a_purge_no_plate_the_daemon_read_is_left_anywhere(tmp_path, clip):
    data = tmp_path / "data"
    config = write_config(tmp_path / "unit.toml", data, clip)
    provisioned(data)  # the unit's data dir with the agency's roster
    cli = [*alpr_unit_cmd()]
    imported = subprocess.run([*cli, "hotlist", "import", str(asset("demo-hotlist.csv")), "--list", "stolen",
                               "--format", "csv", "--config", str(config), "--json", "--user", "adm.ann"],
                              capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stderr
    run = subprocess.run([*cli, "run", "--config", str(config), "--until-sources-end", "--seconds", "120"],
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    journal = run.stderr.splitlines()   # what the unit wrote to the journal
    conn = sqlite3.connect(data / "alpr.db")
    read_plates = {r[0] for r in conn.execute("SELECT plate FROM reads")}
    hit_plates = {r[0] for r in conn.execute("SELECT r.plate FROM hits h JOIN reads r ON r.id = h.read_id")}
    listed = {r[0] for r in conn.execute("SELECT plate FROM hotlist_entries")}
    conn.close()
    assert len(read_plates & set(DEMO_PLATES)) >= 3 and hit_plates, (read_plates, hit_plates)
    alert_lines = (data / "alerts.jsonl").read_text()
    assert all(p in alert_lines for p in hit_plates)            # before the purge, the alert file names them
    for line in journal:
        assert not any(p in line for p in read_plates), line     # the journal never does

    # the back office acknowledged everything and the reads are past a (short) local retention
    conn = sqlite3.connect(data / "alpr.db")
    conn.execute("UPDATE outbox SET acked_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')")
    conn.commit()
    conn.close()
    config = write_config(tmp_path / "unit.toml", data, clip, retention_days=0.00001)
    purge = subprocess.run([*cli, "purge", "--config", str(config), "--json", "--user", "tech.tim"],
                           capture_output=True, text=True, timeout=120)
    assert purge.returncode == 0, purge.stderr
    report = json.loads(purge.stdout.splitlines()[-1])
    assert report["reads"]["purged"] == len(read_plates) and report["alert_files"]["lines_purged"] >= len(hit_plates)
    journal += purge.stderr.splitlines()

    bundle = diagnose(tmp_path, config, journal)
    for plate in read_plates:
        for line in journal:
            assert plate not in line, line
        for name, content in bundle.items():
            assert plate.encode() not in content, (plate, name)
        if plate in listed:
            continue  # the hotlist itself names it: that is the list, not scan data
        assert files_containing(data, plate.encode()) == [], plate
    for path in data.glob("alerts*.jsonl"):
        assert not any(p in path.read_text() for p in read_plates), path
