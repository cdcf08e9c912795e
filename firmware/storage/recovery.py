"""A database that cannot be trusted is moved aside, never written over, and a new one started.

At start the daemon runs `PRAGMA quick_check` (and takes "file is not a database" for what it is);
a corrupt file goes to `alpr.db.corrupt-<utc>` with its WAL and SHM, so capture goes on in a new
database and a technician can salvage the old one (`alpr-unit db recover`). A full or failing disk
is not corruption: those errors are raised as they are, and nothing is moved.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from firmware.storage.db import DB_NAME, StorageError, connect, migrate, open_database

CORRUPT_MARKERS = ("not a database", "malformed", "corrupt", "file is encrypted")


@dataclass(frozen=True)
class DbCheck:
    ok: bool
    exists: bool
    problems: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"ok": self.ok, "exists": self.exists, "problems": list(self.problems)}


def is_corruption(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.DatabaseError) and any(m in str(exc).lower() for m in CORRUPT_MARKERS)


def check_database(db: Path, full: bool = False) -> DbCheck:
    """quick_check (or integrity_check with full=True). Raises StorageError when the disk, not the file, fails."""
    if not db.exists():
        return DbCheck(True, False)
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA integrity_check" if full else "PRAGMA quick_check")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if is_corruption(exc):
            return DbCheck(False, True, (str(exc),))
        raise StorageError(f"cannot check {db}: {exc}") from exc
    return DbCheck(rows == ["ok"], True, () if rows == ["ok"] else tuple(rows[:20]))


def quarantine(data_dir: Path, at: datetime) -> Path:
    """Move alpr.db (and -wal, -shm) to alpr.db.corrupt-<utc>; never over an existing file."""
    data_dir = Path(data_dir)
    stamp = at.strftime("%Y%m%dT%H%M%SZ")
    target = data_dir / f"{DB_NAME}.corrupt-{stamp}"
    n = 1
    while any(Path(f"{target}{s}").exists() for s in ("", "-wal", "-shm")):
        target = data_dir / f"{DB_NAME}.corrupt-{stamp}.{n}"
        n += 1
    for suffix in ("-wal", "-shm", ""):   # the main file last: a crash half-way leaves it in place
        source = data_dir / f"{DB_NAME}{suffix}"
        if source.exists():
            source.rename(Path(f"{target}{suffix}"))
    return target


def open_or_quarantine(data_dir: Path, at: datetime) -> tuple[sqlite3.Connection, dict | None]:
    """The daemon's open: a corrupt database is moved aside and a new one created. Returns the
    connection and, when that happened, what to record as a malfunction event."""
    data_dir = Path(data_dir)
    check = check_database(data_dir / DB_NAME)
    if check.ok:
        try:
            return open_database(data_dir), None
        except StorageError as exc:
            if not is_corruption(exc.__cause__):
                raise
            check = DbCheck(False, True, (str(exc.__cause__),))
    moved = quarantine(data_dir, at)
    conn = open_database(data_dir)
    return conn, {"reason": "corrupt database moved aside, a new one started", "moved_to": moved.name,
                  "problems": list(check.problems)}


def salvage(source: Path, conn: sqlite3.Connection) -> dict:
    """Copy every row still readable from a quarantined database into `conn` (same schema, newer
    migrations allowed): table by table, in rowid ranges, skipping what cannot be read. Returns counts."""
    report: dict = {"tables": {}, "errors": []}
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        try:
            tables = [r[0] for r in src.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                " AND name NOT IN ('schema_migrations') ORDER BY rootpage")]
        except sqlite3.DatabaseError as exc:
            report["errors"].append(f"schema unreadable: {exc}")
            return report
        known = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")   # re-created below: salvage only inserts
        for table in tables:
            if table not in known:
                continue
            report["tables"][table] = _copy_table(src, conn, table, report["errors"])
        conn.execute("PRAGMA foreign_keys = ON")
    finally:
        src.close()
        migrate_triggers(conn)
    return report


def migrate_triggers(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log"
                 " WHEN OLD.seq > (SELECT seq FROM audit_anchor WHERE id = 1)"
                 " BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END")


def _copy_table(src: sqlite3.Connection, dst: sqlite3.Connection, table: str, errors: list) -> int:
    dst_cols = [r[1] for r in dst.execute(f'PRAGMA table_info("{table}")')]
    try:
        src_cols = [r[1] for r in src.execute(f'PRAGMA table_info("{table}")')]
    except sqlite3.DatabaseError as exc:
        errors.append(f"{table}: {exc}")
        return 0
    cols = [c for c in src_cols if c in dst_cols]
    names = ", ".join(f'"{c}"' for c in cols)
    insert = f'INSERT OR REPLACE INTO "{table}" ({names}) VALUES ({", ".join("?" * len(cols))})'
    copied, last = 0, -2**63
    while True:
        try:
            rows = src.execute(f'SELECT rowid, {names} FROM "{table}" WHERE rowid > ? ORDER BY rowid LIMIT 500',
                               (last,)).fetchall()
        except sqlite3.DatabaseError as exc:
            errors.append(f"{table} after rowid {last}: {exc}")
            return copied
        if not rows:
            return copied
        dst.execute("BEGIN")
        dst.executemany(insert, [r[1:] for r in rows])
        dst.execute("COMMIT")
        copied += len(rows)
        last = rows[-1][0]
