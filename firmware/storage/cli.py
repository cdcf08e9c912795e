"""`alpr-unit db check|recover`: the technician's view of the unit database's health.

check: quick_check (or --full integrity_check); exit 0 sound, 1 corrupt, 2 no unit data there (a wrong
--data-dir or config, as for every command), 3 the disk failed.
recover: a corrupt alpr.db is moved aside (alpr.db.corrupt-<utc>, with WAL and SHM) and a new one
started, as the daemon does at start; then what can still be read from the newest quarantined file
(or --from FILE) is copied into alpr.db.salvaged-<utc>, a separate database: two evidence stores
are never merged by a tool, and nothing is written over. Stop the daemon first.
"""

from __future__ import annotations

import sys
from pathlib import Path

from firmware.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_common, emit, load_unit_config


def register(sub) -> None:
    db = sub.add_parser("db", help="check the unit database, or move a corrupt one aside and salvage it")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    check = db_sub.add_parser("check", help="quick_check the database (exit 1 when corrupt)")
    add_common(check)
    check.add_argument("--full", action="store_true", help="integrity_check: slower, checks every index too")
    check.set_defaults(func=cmd_check)
    recover = db_sub.add_parser("recover", help="quarantine a corrupt database, start a new one, salvage rows")
    add_common(recover)
    recover.add_argument("--from", dest="source", type=Path, default=None,
                         help="quarantined file to salvage (default: the newest alpr.db.corrupt-* in the data dir)")
    recover.set_defaults(func=cmd_recover)


def _data_dir(args) -> Path:
    return Path(load_unit_config(args).unit.data_dir)


def cmd_check(args) -> int:
    from firmware.storage.db import DB_NAME
    from firmware.storage.recovery import check_database

    data_dir = _data_dir(args)
    result = check_database(data_dir / DB_NAME, full=args.full)
    quarantined = sorted(p.name for p in data_dir.glob(f"{DB_NAME}.corrupt-*") if not p.name.endswith(("-wal", "-shm")))
    out = {"event": "db_check", "db": str(data_dir / DB_NAME), **result.as_dict(), "quarantined": quarantined}
    if not result.exists:
        print(f"no unit data in {data_dir}", file=sys.stderr)
        emit({**out, "ok": False}, args.json)
        return EXIT_USAGE
    emit(out, args.json)
    return EXIT_OK if result.ok else EXIT_FAILED


def cmd_recover(args) -> int:
    from firmware.clock import SystemClock
    from firmware.storage.db import DB_NAME, open_database
    from firmware.storage.recovery import check_database, quarantine, salvage

    data_dir = _data_dir(args)
    now = SystemClock().utc()
    out: dict = {"event": "db_recover", "data_dir": str(data_dir)}
    current = check_database(data_dir / DB_NAME)
    if not current.exists and args.source is None and not list(data_dir.glob(f"{DB_NAME}.corrupt-*")):
        print(f"no unit data in {data_dir}", file=sys.stderr)
        return EXIT_USAGE
    if current.exists and not current.ok:
        out["quarantined"] = quarantine(data_dir, now).name
        out["problems"] = list(current.problems)
        open_database(data_dir).close()
        out["new_database"] = DB_NAME
    source = args.source
    if source is None:
        found = sorted((p for p in data_dir.glob(f"{DB_NAME}.corrupt-*") if not p.name.endswith(("-wal", "-shm"))),
                       key=lambda p: p.stat().st_mtime)
        source = found[-1] if found else None
    if source is None:
        out["salvaged"] = None
        out["message"] = "database sound, nothing quarantined: nothing to recover" if current.ok else "nothing to salvage"
        emit(out, args.json)
        return EXIT_OK
    if not Path(source).is_file():
        print(f"db recover: no such file {source}", file=sys.stderr)
        return EXIT_USAGE
    target = data_dir / f"{DB_NAME}.salvaged-{now.strftime('%Y%m%dT%H%M%SZ')}"
    if target.exists():
        print(f"db recover: {target} exists; not written over", file=sys.stderr)
        return EXIT_FAILED
    salvage_dir = target.with_name(target.name + ".d")
    salvage_dir.mkdir()
    conn = open_database(salvage_dir)
    try:
        report = salvage(Path(source), conn)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    (salvage_dir / DB_NAME).rename(target)
    for leftover in salvage_dir.iterdir():
        leftover.unlink()
    salvage_dir.rmdir()
    out.update({"salvaged_from": Path(source).name, "salvaged_to": target.name, **report})
    emit(out, args.json)
    return EXIT_OK if not report["errors"] else EXIT_FAILED
