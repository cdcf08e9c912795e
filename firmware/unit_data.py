"""Opening a unit's data for a command: only what exists, only for the unit it belongs to.

A mistyped `--data-dir` used to create a fresh, empty database and report success (`audit verify` on a
typo: ok, 0 entries), and a command run with another unit's config wrote records under the wrong unit
id. So commands open an existing database only ("no unit data in DIR", exit 2), and the database
records the unit id it was created for (`unit_identity`, migration 0007): the daemon or provisioning
binds it on first creation (an older database on its first open), and a config naming another unit is
refused. Only `run`, `demo` and `provision` create a unit's data.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from firmware.clock import iso_utc
from firmware.storage.db import DB_NAME, open_database


class UnitDataError(Exception):
    """The data dir is not this unit's data: a usage or config mistake (exit 2)."""

    exit_code = 2


def bind_unit(conn: sqlite3.Connection, unit_id: str, at: datetime | None = None) -> str:
    """Bind the database to `unit_id` if it is not bound yet; refuse another unit. Returns the bound id."""
    row = conn.execute("SELECT unit_id FROM unit_identity WHERE id = 1").fetchone()
    if row is None:
        conn.execute("INSERT OR IGNORE INTO unit_identity (id, unit_id, bound_at) VALUES (1, ?, ?)",
                     (unit_id, iso_utc(at or datetime.now(timezone.utc))))
        if conn.in_transaction:
            conn.commit()
        row = conn.execute("SELECT unit_id FROM unit_identity WHERE id = 1").fetchone()
    if row[0] != unit_id:
        raise UnitDataError(f"the unit data in this data dir belongs to unit {row[0]!r}, but the config names "
                            f"unit {unit_id!r}: refused (check --config and --data-dir)")
    return row[0]


def bound_unit(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT unit_id FROM unit_identity WHERE id = 1").fetchone()
    except sqlite3.OperationalError:
        return None
    return row[0] if row else None


def has_unit_data(data_dir: Path) -> bool:
    return (Path(data_dir) / DB_NAME).is_file()


def open_unit(config, *, create: bool = False) -> sqlite3.Connection:
    """The unit's database for a command: existing only (unless `create`), bound to config.unit.id."""
    data_dir = Path(config.unit.data_dir)
    if not create and not has_unit_data(data_dir):
        raise UnitDataError(f"no unit data in {data_dir} (no {DB_NAME}): check --data-dir or unit.data_dir; "
                            "the daemon (`alpr-unit run`) or `alpr-unit provision` creates it")
    conn = open_database(data_dir)
    try:
        bind_unit(conn, config.unit.id)
    except BaseException:
        conn.close()
        raise
    return conn


def resolve_id(conn: sqlite3.Connection, table: str, given: str, *, what: str) -> str:
    """A full id, or a unique prefix of one (people copy the first 8 characters)."""
    given = (given or "").strip()
    if not given:
        raise UnitDataError(f"give a {what} id")
    if conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (given,)).fetchone():
        return given
    like = given.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = [r[0] for r in conn.execute(f"SELECT id FROM {table} WHERE id LIKE ? ESCAPE '\\' LIMIT 6", (like,))]
    if not rows:
        raise NotFound(f"no {what} {given!r} on this unit")
    if len(rows) > 1:
        raise UnitDataError(f"{what} id {given!r} is ambiguous: it begins {', '.join(rows[:5])}"
                            f"{' ...' if len(rows) > 5 else ''}; give more characters")
    return rows[0]


class NotFound(UnitDataError):
    """The id names nothing on this unit (exit 2: the user gave a wrong id)."""
