"""Clock jumps against the real daemon process with libfaketime (issue 18 item 1).

The wall clock is moved under the running daemon through a libfaketime timestamp file while
monotonic time stays real (FAKETIME_DONT_FAKE_MONOTONIC), as a wrong NTP answer or an RTC fault
does. libfaketime 0.9.10 answers Python's time.sleep (clock_nanosleep on the monotonic clock) with
EINVAL in that mode, so a sitecustomize swaps time.sleep for an Event wait in the child only.
"""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from conftest import alpr_unit_cmd
from test_daemon import clip, db_rows, wait_for, write_config  # noqa: F401 - clip is a fixture

LIBFAKETIME = next((p for p in ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                                "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
                                "/usr/lib/faketime/libfaketime.so.1") if Path(p).exists()), None)
pytestmark = pytest.mark.skipif(LIBFAKETIME is None, reason="libfaketime not installed (Debian package faketime)")
DAY = 86400


def faked_daemon(tmp_path: Path, config: Path, offset: str) -> tuple[subprocess.Popen, Path]:
    stamp = tmp_path / "faketime"
    stamp.write_text(offset + "\n")
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(
        "import threading, time\n_never = threading.Event()\n"
        "time.sleep = lambda s: _never.wait(s) if s and s > 0 else None\n")
    env = dict(os.environ, LD_PRELOAD=LIBFAKETIME, FAKETIME_TIMESTAMP_FILE=str(stamp), FAKETIME_CACHE_DURATION="1",
               FAKETIME_DONT_FAKE_MONOTONIC="1", PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([*alpr_unit_cmd(), "run", "--config", str(config)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return proc, stamp


def config_for(tmp_path: Path, clip: Path) -> tuple[Path, Path]:
    data = tmp_path / "data"
    config = write_config(tmp_path / "unit.toml", data, clip, fps=20, loop=True)
    config.write_text(config.read_text() + "\n[retention]\npurge_interval_s = 10\nclock_check_s = 0.5\n"
                      "local_retention_days = 1\n")
    return config, data


def clock_events(data: Path) -> list[dict]:
    try:
        rows = db_rows(data, "SELECT kind, detail FROM events WHERE source = 'clock' ORDER BY rowid")
    except sqlite3.OperationalError:
        return []
    return [{"kind": k, **json.loads(d)} for k, d in rows]


def refusals(data: Path) -> list[dict]:
    return [e for e in clock_events(data) if e.get("action", "").startswith("purge refused")]


def read_ids(data: Path) -> set:
    try:
        return {r[0] for r in db_rows(data, "SELECT id FROM reads")}
    except sqlite3.OperationalError:
        return set()


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    return err


def test_100_days_ahead_for_a_while_purges_nothing(tmp_path, clip):
    config, data = config_for(tmp_path, clip)
    proc, stamp = faked_daemon(tmp_path, config, "+0")
    try:
        assert wait_for(lambda: len(read_ids(data)) >= 4, 120), "daemon produced no reads"
        stamp.write_text("+100d\n")
        assert wait_for(lambda: refusals(data), 60), "no purge ran (or it was not refused) during the jump"
        before_return = read_ids(data)
        stamp.write_text("+0\n")
        assert wait_for(lambda: clock_events(data)[-1]["kind"] == "back_in_service", 30)
        kept = read_ids(data)
    finally:
        err = stop(proc)
    assert proc.returncode == 0, err[-3000:]
    assert before_return <= kept, "reads were deleted while the clock was 100 days ahead"
    events = clock_events(data)
    assert events[0]["kind"] == "malfunction" and "stepped forward 100.0 days" in events[0]["why"][0]
    assert "stepped forward 100.0 days" in refusals(data)[0]["why"][0]
    ahead = db_rows(data, "SELECT count(*) FROM reads WHERE captured_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+50 days')")
    flagged = db_rows(data, "SELECT count(*) FROM reads WHERE clock_suspect = 1")[0][0]
    assert flagged == len(read_ids(data)), "reads of a boot whose clock jumped are flagged"
    assert ahead[0][0] >= 0


def test_reads_stamped_120_days_behind_survive_the_correction(tmp_path, clip):
    config, data = config_for(tmp_path, clip)
    proc, stamp = faked_daemon(tmp_path, config, "-120d")
    try:
        assert wait_for(lambda: len(read_ids(data)) >= 4, 120), "daemon produced no reads"
        stamp.write_text("+0\n")      # the clock is corrected under the running daemon
        assert wait_for(lambda: refusals(data), 60), "no purge ran after the correction"
    finally:
        err = stop(proc)
    assert proc.returncode == 0, err[-3000:]
    slow = read_ids(data)
    rows = db_rows(data, "SELECT captured_at, captured_at_latest, clock_suspect FROM reads")
    assert rows and all(flag == 1 for _, _, flag in rows)
    for captured, latest, _ in rows:           # re-timed by the 120-day correction
        assert latest > captured and latest[:4] >= "2026"
    # the daemon starts again in the same boot on the corrected clock: still no deletion on it
    refused_before = len(refusals(data))
    proc, stamp = faked_daemon(tmp_path, config, "+0")
    try:
        assert wait_for(lambda: len(refusals(data)) > refused_before, 60)
    finally:
        err = stop(proc)
    assert proc.returncode == 0, err[-3000:]
    assert slow <= read_ids(data), "a read stamped by the slow clock was purged as 120 days old"
    legal = db_rows(data, "SELECT count(*) FROM events WHERE kind = 'data_loss' AND source = 'retention'")
    assert legal[0][0] == 0
