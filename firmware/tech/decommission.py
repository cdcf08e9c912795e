"""`alpr-unit-tech decommission`: retire a unit. Wipes its data and keys, after its last audit record
(who, why, what was still unsynced) has reached the agency.

Refuses while evidence (reads, hits, images, dispositions, audit, events) waits in the outbox, unless
forced with a reason (a unit burnt out in a crash cannot sync). The record is appended to the unit's
hash-chained audit log and delivered by the sync service before anything is deleted; a copy stays in
/var/log/alpr-unit-decommission.log, outside the wiped data. The daemon must be stopped first: one
writer owns the database.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from firmware.tech.cli import EXIT_FAILED, EXIT_OK, TechError, unit_paths

EVIDENCE = ("read", "hit", "image", "disposition", "audit", "event")
LOG = "var/log/alpr-unit-decommission.log"


def register(sub) -> None:
    p = sub.add_parser("decommission", help="wipe a unit's data and keys after its final audit record is synced")
    p.add_argument("--technician", required=True, help="who is retiring the unit (recorded)")
    p.add_argument("--force", metavar="REASON",
                   help="wipe although evidence is unsynced or the record cannot be delivered; REASON is recorded")
    p.add_argument("--sync-timeout", type=float, default=60.0, help="seconds to wait for the record to be delivered")
    p.add_argument("--root", type=Path, default=Path("/"), help="system root (default /)")
    p.add_argument("--config", type=Path, help="unit config (default ROOT/etc/alpr-unit/unit.toml)")
    p.set_defaults(func=_decommission)


def unsynced(db: Path) -> dict[str, int]:
    from firmware.storage import outbox

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {k: n for k, n in outbox.counts(conn).items() if k in EVIDENCE and n}
    finally:
        conn.close()


def acked(db: Path, record_id: str) -> bool:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        row = conn.execute("SELECT acked_at FROM outbox WHERE record_id = ?", (record_id,)).fetchone()
        return bool(row and row[0])
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


def deliver(config_path: Path, data_dir: Path, db: Path, record_id: str, timeout: float) -> bool:
    """Run the sync service until the record is acknowledged by the broker or the time is up."""
    proc = subprocess.Popen([sys.executable, "-m", "firmware", "sync", "run", "--config", str(config_path),
                             "--data-dir", str(data_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if acked(db, record_id):
                return True
            time.sleep(0.2)
        return acked(db, record_id)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def service_running(root: Path) -> bool:
    if root != Path("/") or not shutil.which("systemctl"):
        return False
    return subprocess.run(["systemctl", "is-active", "--quiet", "alpr-unit.service"]).returncode == 0


def _decommission(args) -> int:
    from firmware.retention.audit import append_audit
    from firmware.storage.db import DB_NAME, open_database, transaction

    config, config_path, data_dir = unit_paths(args.root, args.config)
    if args.force is not None and len(args.force.strip()) < 5:
        raise TechError("--force needs a reason a reviewer can understand (at least a few words)")
    if service_running(args.root):
        raise TechError("the daemon is running: sudo systemctl stop alpr-unit, then run decommission again")
    db = data_dir / DB_NAME
    waiting = unsynced(db) if db.exists() else {}
    if waiting and args.force is None:
        listing = ", ".join(f"{n} {k}" for k, n in sorted(waiting.items()))
        print(f"decommission: refused: evidence not yet delivered to the agency ({listing}). Connect the unit and "
              "run `alpr-unit sync run --until-empty`, or give --force REASON.", file=sys.stderr)
        return EXIT_FAILED
    user = args.technician
    detail = {"technician": user, "os_user": getpass.getuser(), "forced": args.force, "unsynced": waiting}
    conn = open_database(data_dir)
    try:
        record_id = transaction(conn, lambda c: append_audit(c, unit_id=config.unit.id, event="decommission",
                                                             at=datetime.now(timezone.utc), user=user,
                                                             purpose="unit retired", detail=detail))
    finally:
        conn.close()
    delivered = bool(config.sync.host) and deliver(config_path, data_dir, db, record_id, args.sync_timeout)
    if not delivered and args.force is None:
        print(f"decommission: refused: the decommission record {record_id} did not reach the broker "
              f"({config.sync.host or 'sync.host is empty'}) within {args.sync_timeout:.0f} s; nothing was wiped. "
              "Fix the link and run again, or give --force REASON.", file=sys.stderr)
        return EXIT_FAILED
    db_sha = hashlib.sha256(db.read_bytes()).hexdigest()
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    record = {"event": "decommission", "at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "unit": config.unit.id, "record_id": record_id, "delivered": delivered, **detail,
              "files_wiped": len(files), "bytes_wiped": sum(p.stat().st_size for p in files), "db_sha256": db_sha}
    log = args.root / LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
    for child in data_dir.iterdir():
        shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    etc = config_path.parent
    shutil.rmtree(etc / "tls", ignore_errors=True)
    config_path.unlink()
    print(f"decommission: unit {config.unit.id} wiped ({len(files)} files); record {record_id} "
          f"{'delivered to the agency' if delivered else 'NOT delivered (forced)'}; copy in {log}")
    return EXIT_OK
