"""Purge N synthetic reads through the writer while capture keeps writing; report the longest stall.

Builds a scratch data dir with N reads spread over `--days` days (most synced, some unsynced,
some with hits, a few with image files), then runs the daemon's purge (RetentionService through the
single Writer) while a capture simulator submits one small insert every `--capture-interval-ms`
and times how long each waited. The figure that matters is `capture_max_wait_s`: the longest
time a new read could not be committed because purge held the writer.
"""

from __future__ import annotations

import json
import random
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from firmware.cli import number
from firmware.clock import ManualClock, iso_utc
from firmware.ids import new_id
from firmware.retention.config import RetentionConfig
from firmware.storage.db import DB_NAME, Writer, open_database

_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


def read_row(rid: str, plate: str, captured: datetime, camera: str = "front", unit: str = "unit-0001",
             crop: str | None = None, overview: str | None = None) -> dict:
    t = iso_utc(captured)
    return {"id": rid, "unit_id": unit, "camera_id": camera, "plate": plate, "plate_raw": plate, "state": "NC",
            "confidence": 0.93, "char_confidences": json.dumps([0.93] * len(plate)), "frames": 3,
            "box": "[10,20,120,40]", "captured_at": t, "first_seen_at": t, "clock_source": "gps", "frame_seq": 1,
            "lat": 35.99, "lon": -78.9, "position_method": "fix", "crop_path": crop, "overview_path": overview,
            "hit": 0, "created_at": t}


READ_COLUMNS = tuple(read_row("x", "X", datetime.now(timezone.utc)))
INSERT_READ = f"INSERT INTO reads ({', '.join(READ_COLUMNS)}) VALUES ({', '.join(':' + c for c in READ_COLUMNS)})"
INSERT_OUTBOX = ("INSERT INTO outbox (record_id, kind, priority, payload, created_at, acked_at)"
                 " VALUES (?, ?, ?, ?, ?, ?)")


def store_read(conn, data_dir: Path, plate: str, captured: datetime, *, acked_at: datetime | None = None,
               camera: str = "front", unit: str = "unit-0001", images: bool = True, hit: bool = False) -> str:
    """One read as the pipeline stores it: row, outbox rows (read, images, hit), image files. For tests."""
    rid = new_id()
    crop = overview = None
    if images:
        day = captured.strftime("%Y/%m/%d")
        (data_dir / "images" / day).mkdir(parents=True, exist_ok=True)
        crop, overview = f"images/{day}/{rid}-crop.jpg", f"images/{day}/{rid}-overview.jpg"
        (data_dir / crop).write_bytes(b"\xff\xd8 fake jpeg " + plate.encode())
        (data_dir / overview).write_bytes(b"\xff\xd8 fake jpeg overview")
    row = read_row(rid, plate, captured, camera=camera, unit=unit, crop=crop, overview=overview)
    acked = iso_utc(acked_at) if acked_at else None
    conn.execute(INSERT_READ, row)
    conn.execute(INSERT_OUTBOX, (rid, "read", 3, json.dumps({"schema": 1, **row}).encode(), row["created_at"], acked))
    if images:
        for role, path in (("crop", crop), ("overview", overview)):
            ref = json.dumps({"schema": 1, "read_id": rid, "role": role, "path": path}).encode()
            conn.execute(INSERT_OUTBOX, (f"{rid}:{role}", "image", 4, ref, row["created_at"], acked))
    if hit:
        hid = new_id()
        conn.execute("INSERT INTO hits (id, read_id, list_name, entry_plate, category, match, created_at)"
                     " VALUES (?, ?, 'ncic', ?, 'stolen', 'exact', ?)", (hid, rid, plate, row["created_at"]))
        conn.execute(INSERT_OUTBOX, (hid, "hit", 0, json.dumps({"schema": 1, "plate": plate}).encode(),
                                     row["created_at"], acked))
    return rid


def populate(conn, n: int, now: datetime, days: float, images: int, data_dir: Path, seed: int = 1,
             unsynced_fraction: float = 0.05, hit_fraction: float = 0.01, chunk: int = 20000,
             ids: str = "v7") -> None:
    """Insert n reads (with outbox rows, some hits, `images` reads with files) in big transactions.
    ids: "v7" time-ordered as the unit makes them (firmware.ids), "v4" random as it did before."""
    rng = random.Random(seed)

    def make_id(captured: datetime) -> str:
        if ids == "v7":
            return new_id(int(captured.timestamp() * 1000), rng.randbytes(10))
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    span = days * 86400
    image_every = max(1, n // images) if images else 0
    for start in range(0, n, chunk):
        reads, boxes, hits = [], [], []
        for i in range(start, min(n, start + chunk)):
            # chronological, as a unit records them (with a little jitter): rowid order ~ capture order
            captured = now - timedelta(seconds=span * (1 - (i + rng.random()) / n))
            rid = make_id(captured)
            plate = "".join(rng.choice(_LETTERS) for _ in range(7))
            crop = overview = None
            if image_every and i % image_every == 0:
                day = captured.strftime("%Y/%m/%d")
                (data_dir / "images" / day).mkdir(parents=True, exist_ok=True)
                crop, overview = f"images/{day}/{rid}-crop.jpg", f"images/{day}/{rid}-overview.jpg"
                (data_dir / crop).write_bytes(b"\xff\xd8" + plate.encode() + b"\x00" * 2000)
                (data_dir / overview).write_bytes(b"\xff\xd8" + b"\x00" * 8000)
            row = read_row(rid, plate, captured, camera=rng.choice(("front", "rear")), crop=crop, overview=overview)
            reads.append(row)
            acked = None if rng.random() < unsynced_fraction else iso_utc(captured + timedelta(minutes=5))
            payload = json.dumps({"schema": 1, **row}).encode()
            boxes.append((rid, "read", 3, payload, row["created_at"], acked))
            if crop:
                for role, path in (("crop", crop), ("overview", overview)):
                    ref = json.dumps({"schema": 1, "read_id": rid, "role": role, "path": path}).encode()
                    boxes.append((f"{rid}:{role}", "image", 4, ref, row["created_at"], acked))
            if rng.random() < hit_fraction:
                hid = make_id(captured)
                hits.append((hid, rid, "ncic", plate, "stolen", "exact", row["created_at"]))
                boxes.append((hid, "hit", 0, b'{"schema":1}', row["created_at"], acked))
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT_READ, reads)
        conn.executemany(INSERT_OUTBOX, boxes)
        conn.executemany("INSERT INTO hits (id, read_id, list_name, entry_plate, category, match, created_at)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?)", hits)
        conn.execute("COMMIT")


def _bytes_written() -> int | None:
    """This process's storage writes so far (Linux /proc/self/io), None where the kernel does not say."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def add_arguments(parser) -> None:
    parser.add_argument("--reads", type=number(1, 10 ** 8), default=100_000,
                        help="synthetic reads to store before purging")
    parser.add_argument("--days", type=number(0.01, 36500.0, float), default=120.0,
                        help="capture times spread over this many days")
    parser.add_argument("--images", type=number(0, 10 ** 8), default=2000, help="reads that also get image files")
    parser.add_argument("--capture-interval-ms", type=number(1.0, 60_000.0, float), default=20.0,
                        help="simulated capture write rate")
    parser.add_argument("--batch", type=number(1, 20_000), default=500, help="retention.purge_batch_size")
    parser.add_argument("--max-job-ms", type=number(0.1, 5000.0, float), default=50.0,
                        help="retention.purge_max_job_s, in ms")
    parser.add_argument("--pause-ratio", type=number(0.0, 20.0, float), default=RetentionConfig().purge_pause_ratio,
                        help="retention.purge_pause_ratio (0: purge flat out)")
    parser.add_argument("--dir", type=Path, default=None, help="scratch dir (default: a temporary one, removed)")
    parser.add_argument("--ids", choices=("v7", "v4"), default="v7",
                        help="record ids: v7 time-ordered (what the unit makes), v4 random (before 2026-11-23)")


def run(args) -> dict:
    scratch = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="purge-bench-"))
    now = datetime.now(timezone.utc).replace(microsecond=0)
    try:
        conn = open_database(scratch)
        t0 = time.perf_counter()
        populate(conn, args.reads, now, args.days, args.images, scratch, ids=args.ids)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        build_s = time.perf_counter() - t0
        db_before = (scratch / DB_NAME).stat().st_size
        config = RetentionConfig(purge_batch_size=args.batch, purge_max_job_s=args.max_job_ms / 1000,
                                 purge_pause_ratio=args.pause_ratio)
        writer = Writer(conn).start()
        from firmware.retention.service import RetentionService

        service = RetentionService(config, scratch, writer, "unit-0001", ManualClock(now))
        waits: list[float] = []
        stop = threading.Event()
        rng = random.Random(2)

        def capture() -> None:
            while not stop.wait(args.capture_interval_ms / 1000):
                row = read_row(new_id(), "CAP" + str(rng.randrange(10000)), now)
                submitted = time.perf_counter()
                writer.call(lambda c: c.execute(INSERT_READ, row))
                waits.append(time.perf_counter() - submitted)

        capturer = threading.Thread(target=capture, name="capture-sim", daemon=True)
        capturer.start()
        t1 = time.perf_counter()
        written_before = _bytes_written()
        report = service.purge_now()
        purge_s = time.perf_counter() - t1
        written = _bytes_written() - written_before if written_before is not None else None
        stop.set()
        capturer.join()
        writer.stop()
        waits.sort()
        return {
            "bench": "purge", "ids": args.ids, "reads": args.reads, "days": args.days, "pause_ratio": args.pause_ratio, "build_s": round(build_s, 1),
            "purge_s": round(purge_s, 2), "reads_purged": report["reads"]["purged"],
            "reads_kept": report["reads"]["kept"], "lost_unsynced": report["lost_unsynced"],
            "purged_per_s": round(report["reads"]["purged"] / purge_s) if purge_s else None,
            "writer_jobs": report["jobs"], "longest_purge_job_s": report["longest_job_s"],
            "capture_writes": len(waits),
            "capture_max_wait_s": round(waits[-1], 4) if waits else None,
            "capture_p99_wait_s": round(waits[int(len(waits) * 0.99)], 4) if waits else None,
            "capture_median_wait_s": round(statistics.median(waits), 4) if waits else None,
            "writer_longest_job_s": round(writer.longest_job_s, 4),
            "db_bytes_before": db_before, "db_bytes_after": report["space"]["db_bytes_after"],
            "wal_bytes_after": report["space"]["wal_bytes_after"], "images_deleted": report["images_deleted"],
            "checkpoint_s": report.get("checkpoint_s"), "job_s_by_phase": report["job_s_by_phase"],
            # what the process wrote to storage during the purge (capture's few rows included): SD wear
            "purge_bytes_written": written,
            "bytes_written_per_purged_read": round(written / report["reads"]["purged"])
            if written is not None and report["reads"]["purged"] else None,
        }
    finally:
        if not args.dir:
            shutil.rmtree(scratch, ignore_errors=True)
