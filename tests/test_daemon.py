"""The real daemon, as a process, on the folder source with the real models."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from conftest import alpr_unit_cmd
from firmware.demo import DEMO_PLATES, asset, render_clip
from rosters import provisioned


def write_config(path: Path, data_dir: Path, clip: Path, *, fps: float = 20, loop: bool = False) -> Path:
    path.write_text(f"""
[unit]
id = "test-unit"
data_dir = "{data_dir}"
min_free_mb = 1

[[cameras]]
id = "front"
kind = "folder"
uri = "{clip}"
fps = {fps}
loop = {str(loop).lower()}
queue_size = 64

[gps]
source = "file"
file = "{asset('demo-route.nmea')}"

[alerts]
sinks = ["recording"]

[logging]
format = "json"
""")
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clip")
    render_clip(folder)
    return folder


def db_rows(data_dir: Path, sql: str) -> list:
    conn = sqlite3.connect(f"file:{data_dir / 'alpr.db'}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_daemon_reads_the_clip_tags_gps_matches_and_stores(tmp_path, clip):
    data = tmp_path / "data"
    config = write_config(tmp_path / "unit.toml", data, clip)
    subprocess.run([*alpr_unit_cmd(), "provision", "--config", str(config), "--user", "tech.tim"], check=True,
                   capture_output=True, timeout=60)
    provisioned(data)     # the agency's roster, into the database the command created
    imported = subprocess.run([*alpr_unit_cmd(), "hotlist", "import", str(asset("demo-hotlist.csv")),
                               "--list", "stolen", "--format", "csv", "--config", str(config), "--json",
                               "--user", "adm.ann"],
                              capture_output=True, text=True, timeout=60)
    assert imported.returncode == 0, imported.stderr
    run = subprocess.run([*alpr_unit_cmd(), "run", "--config", str(config), "--until-sources-end", "--seconds", "120"],
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    reads = db_rows(data, "SELECT plate, lat, lon, position_method, fix_age_s, crop_path, overview_path, clock_source,"
                          " captured_at, id FROM reads")
    plates = {r[0] for r in reads}
    assert len(plates & set(DEMO_PLATES)) >= len(DEMO_PLATES) - 1, plates
    assert len(reads) <= len(DEMO_PLATES) + 2            # one read per vehicle, not one per frame
    for plate, lat, lon, method, age, crop, overview, clock_source, captured_at, _ in reads:
        assert lat is not None and lon is not None and method in ("fix", "interpolated", "extrapolated")
        assert age is not None and age < 5
        assert (data / crop).stat().st_size > 0 and (data / overview).stat().st_size > 0
        assert clock_source and captured_at.endswith("Z")
    hits = db_rows(data, "SELECT r.plate, h.match, h.positions FROM hits h JOIN reads r ON r.id = h.read_id")
    assert ("6TRK915", "exact", "[]") in hits
    queued = dict(db_rows(data, "SELECT kind, count(*) FROM outbox WHERE acked_at IS NULL GROUP BY kind"))
    assert queued["read"] == len(reads) and queued["hit"] == len(hits)
    alerts = [json.loads(line) for line in (data / "alerts.jsonl").read_text().splitlines()]
    assert {a["plate"] for a in alerts} == {h[0] for h in hits}
    # data at rest: nothing the unit wrote is readable by others or writable by its group (umask 0027)
    written = list(data.rglob("*"))
    assert data / crop in written and data / "alerts.jsonl" in written and data / "alpr.db" in written
    loose = {str(p.relative_to(data)): oct(p.stat().st_mode & 0o777) for p in [data, *written]
             if p.stat().st_mode & 0o027}
    assert not loose, loose
    for line in run.stderr.splitlines():                 # no plate numbers in INFO logs
        entry = json.loads(line)
        if entry["level"] == "INFO":
            assert not any(p in line for p in DEMO_PLATES), line


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return None


def committed_ids(data: Path) -> set:
    try:
        return {r[0] for r in db_rows(data, "SELECT id FROM reads")}
    except sqlite3.OperationalError:
        return set()


def test_kill_9_loses_no_committed_read_and_db_reopens_clean(tmp_path, clip):
    data = tmp_path / "data"
    config = write_config(tmp_path / "unit.toml", data, clip, fps=30, loop=True)
    proc = subprocess.Popen([*alpr_unit_cmd(), "run", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: len(committed_ids(data)) >= 4, 120), "daemon produced no reads"
        before = committed_ids(data)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    conn = sqlite3.connect(data / "alpr.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    after = {r[0] for r in conn.execute("SELECT id FROM reads")}
    assert before <= after
    orphans = conn.execute("SELECT count(*) FROM reads r WHERE NOT EXISTS "
                           "(SELECT 1 FROM outbox o WHERE o.kind = 'read' AND o.record_id = r.id)").fetchone()[0]
    assert orphans == 0                                  # a committed read is always queued for sync
    conn.close()
    # and the daemon starts again on the same data dir and keeps adding reads
    proc = subprocess.Popen([*alpr_unit_cmd(), "run", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: len(committed_ids(data)) > len(after), 120)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_demo_ends_with_a_hit_and_every_read_positioned(tmp_path):
    result = subprocess.run([*alpr_unit_cmd(), "demo", "--data-dir", str(tmp_path / "demo"), "--json"],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["hits_stored"] >= 1
    assert summary["reads_stored"] >= 1 and summary["reads_with_position"] == summary["reads_stored"]
    assert "HIT" in result.stdout and "matched" in result.stdout
    # each read line shows the state as stored: a USPS code with its confidence, or "?" when none was read
    stored = dict(sqlite3.connect(tmp_path / "demo" / "alpr.db").execute("SELECT plate, state FROM reads").fetchall())
    shown = dict(re.findall(r"^read  (\S+) +state (\S+)", result.stdout, re.M))
    assert shown == {plate: state or "?" for plate, state in stored.items()}
