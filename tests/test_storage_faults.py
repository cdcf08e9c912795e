"""Storage faults against the real daemon (issue 18 item 2): a small real filesystem (tmpfs, so
root only) filled at start and while running, and a corrupt database at start; `db check|recover`."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from conftest import alpr_unit_cmd
from firmware.demo import asset
from rosters import provisioned
from test_daemon import clip, db_rows, wait_for, write_config  # noqa: F401 - clip is a fixture

DB = "alpr.db"


@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("a full disk needs a tmpfs mount, and mounting needs root")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(mnt: Path) -> Path:
    """Write until the filesystem refuses: ENOSPC."""
    filler = mnt / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for size in (65536, 4096, 512, 1):     # down to the last byte
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def config_on(tmp_path: Path, data: Path, clip: Path, *, loop: bool, reserve_mb: int) -> Path:
    config = write_config(tmp_path / "unit.toml", data, clip, fps=20, loop=loop)
    text = config.read_text().replace("min_free_mb = 1", f"min_free_mb = 1\nreserve_mb = {reserve_mb}")
    config.write_text(text + "\n[retention]\nclock_check_s = 0.5\n")
    return config


def storage_events(data: Path) -> list[tuple[str, dict]]:
    try:
        rows = db_rows(data, "SELECT kind, detail FROM events WHERE source = 'storage' ORDER BY rowid")
    except sqlite3.OperationalError:
        return []
    return [(k, json.loads(d)) for k, d in rows]


def reads_in(data: Path) -> int:
    try:
        return db_rows(data, "SELECT count(*) FROM reads")[0][0]
    except sqlite3.OperationalError:   # not created yet
        return 0


def log_events(path: Path, name: str) -> list[dict]:
    found = []
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == name:
            found.append(entry)
    return found


def test_a_full_disk_at_start_gives_the_reserve_back_and_captures(tmp_path, small_disk, clip):
    data = small_disk / "data"
    config = config_on(tmp_path, data, clip, loop=False, reserve_mb=4)
    subprocess.run([*alpr_unit_cmd(), "provision", "--config", str(config), "--user", "tech.tim"], check=True,
                   capture_output=True, timeout=60)
    provisioned(data)     # the agency's roster: an administrator may import the list
    imported = subprocess.run([*alpr_unit_cmd(), "hotlist", "import", str(asset("demo-hotlist.csv")), "--list",
                               "stolen", "--format", "csv", "--config", str(config), "--json", "--user", "adm.ann"],
                              capture_output=True, text=True, timeout=60)
    assert imported.returncode == 0, imported.stderr
    first = subprocess.run([*alpr_unit_cmd(), "run", "--config", str(config), "--until-sources-end", "--seconds", "120"],
                           capture_output=True, text=True, timeout=240)
    assert first.returncode == 0, first.stderr[-2000:]
    assert (data / ".alpr-reserve").stat().st_size == 4 * 2**20
    before = len(db_rows(data, "SELECT id FROM reads"))
    alerted = len((data / "alerts.jsonl").read_text().splitlines())
    assert alerted >= 1
    fill(small_disk)
    assert shutil.disk_usage(small_disk).free < 2**20
    run = subprocess.run([*alpr_unit_cmd(), "run", "--config", str(config), "--until-sources-end", "--seconds", "120"],
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(db_rows(data, "SELECT id FROM reads")) > before          # it captured on a full disk
    kinds = storage_events(data)
    assert kinds[0][0] == "malfunction" and kinds[0][1]["reason"] == "disk full at start: reserve given back"
    assert len((data / "alerts.jsonl").read_text().splitlines()) > alerted   # and alerted on a hit


def test_a_disk_filling_while_running_loses_no_read_and_no_event(tmp_path, small_disk, clip):
    data = small_disk / "data"
    config = config_on(tmp_path, data, clip, loop=True, reserve_mb=0)
    log = tmp_path / "daemon.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([*alpr_unit_cmd(), "run", "--config", str(config)], stdout=subprocess.DEVNULL, stderr=err)
    try:
        assert wait_for(lambda: reads_in(data) >= 2, 120)
        filler = fill(small_disk)
        assert wait_for(lambda: len(log_events(log, "read.store_failed")) >= 2, 120), "the disk never refused a read"
        filler.unlink()                                                    # space comes back
        assert wait_for(lambda: [k for k, _ in storage_events(data)][-1:] == ["back_in_service"], 60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(90) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    kinds = [k for k, _ in storage_events(data)]
    assert kinds[:2] == ["malfunction", "back_in_service"], kinds           # the outage itself is stored
    stored = {r[0] for r in db_rows(data, "SELECT id FROM reads")}
    failed = {e["read_id"] for e in log_events(log, "read.store_failed")}
    assert failed and failed <= stored                                     # every held read committed later
    # and every image, held in memory while the disk was full, written and attached once it was not
    for read_id, crop, overview in db_rows(data, "SELECT id, crop_path, overview_path FROM reads"):
        assert crop and overview, read_id
        assert (data / crop).stat().st_size > 0 and (data / overview).stat().st_size > 0
    images = {r[0] for r in db_rows(data, "SELECT record_id FROM outbox WHERE kind = 'image'")}
    assert images == {f"{r}:{role}" for r in stored for role in ("crop", "overview")}


def test_run_exits_3_when_reads_could_not_be_stored(tmp_path, small_disk, clip):
    data = small_disk / "data"
    config = config_on(tmp_path, data, clip, loop=True, reserve_mb=0)
    log = tmp_path / "daemon.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([*alpr_unit_cmd(), "run", "--config", str(config)], stdout=subprocess.DEVNULL, stderr=err)
    try:
        assert wait_for(lambda: reads_in(data) >= 1, 120)
        fill(small_disk)
        assert wait_for(lambda: log_events(log, "read.store_failed"), 120)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(90) == 3
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "read(s) or image(s) could not be stored before shutdown" in log.read_text()


def test_a_corrupt_database_is_moved_aside_and_capture_goes_on(tmp_path, clip):
    data = tmp_path / "data"
    config = write_config(tmp_path / "unit.toml", data, clip, fps=20)
    first = subprocess.run([*alpr_unit_cmd(), "run", "--config", str(config), "--until-sources-end", "--seconds", "120"],
                           capture_output=True, text=True, timeout=240)
    assert first.returncode == 0, first.stderr[-2000:]
    original = (data / DB).read_bytes()
    damaged = bytearray(original)
    page = 4096
    damaged[3 * page:6 * page] = os.urandom(3 * page)      # pages of tables and indexes overwritten
    (data / DB).write_bytes(bytes(damaged))
    check = subprocess.run([*alpr_unit_cmd(), "db", "check", "--config", str(config), "--json"],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 1, check.stdout + check.stderr
    assert json.loads(check.stdout)["ok"] is False
    run = subprocess.run([*alpr_unit_cmd(), "run", "--config", str(config), "--until-sources-end", "--seconds", "120"],
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    moved = [p for p in data.iterdir() if p.name.startswith(f"{DB}.corrupt-")]
    assert [p.name for p in moved if not p.name.endswith(("-wal", "-shm"))], moved
    main_copy = next(p for p in moved if not p.name.endswith(("-wal", "-shm")))
    assert main_copy.read_bytes() == bytes(damaged)                       # moved, not written over
    (kind, detail), = [e for e in db_rows(data, "SELECT kind, detail FROM events WHERE source = 'storage'")]
    assert kind == "malfunction" and json.loads(detail)["moved_to"] == main_copy.name
    assert db_rows(data, "SELECT count(*) FROM reads")[0][0] >= 1         # capture went on in the new one
    assert subprocess.run([*alpr_unit_cmd(), "db", "check", "--config", str(config)],
                          capture_output=True, timeout=60).returncode == 0
    recovered = subprocess.run([*alpr_unit_cmd(), "db", "recover", "--config", str(config), "--json"],
                               capture_output=True, text=True, timeout=120)
    out = json.loads(recovered.stdout)
    assert out["salvaged_from"] == main_copy.name and (data / out["salvaged_to"]).exists()
    assert out["tables"].get("events", 0) >= 1 or out["errors"]
    assert main_copy.read_bytes() == bytes(damaged)                       # salvage only reads it


def test_a_file_that_is_not_a_database_is_quarantined_not_a_traceback(tmp_path, clip):
    data = tmp_path / "data"
    data.mkdir()
    (data / DB).write_bytes(b"this is not sqlite at all\n" * 200)
    config = write_config(tmp_path / "unit.toml", data, clip, fps=20)
    run = subprocess.run([*alpr_unit_cmd(), "run", "--config", str(config), "--until-sources-end", "--seconds", "120"],
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-3000:]
    assert any(p.name.startswith(f"{DB}.corrupt-") for p in data.iterdir())
    assert db_rows(data, "SELECT count(*) FROM reads")[0][0] >= 1


def test_held_images_are_bounded_and_the_oldest_go_first():
    from firmware.storage.held_images import HeldImage, HeldImages

    held = HeldImages(max_bytes=250)
    images = [HeldImage(f"r{i}", "crop", f"images/r{i}-crop.jpg", bytes(100)) for i in range(5)]
    dropped = [held.add(image) for image in images]
    assert dropped == [0, 0, 1, 1, 1] and held.dropped == 3      # 250 bytes hold two 100-byte images
    assert held.oldest() is images[3] and len(held) == 2 and held.bytes == 200
    held.done(images[4])                                          # only the oldest can be done
    assert len(held) == 2
    held.done(images[3])
    assert held.oldest() is images[4] and held.bytes == 100
