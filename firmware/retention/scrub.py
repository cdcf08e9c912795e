"""`alpr-unit scrub DIR`: take every plate this unit stores out of the files in DIR (the support bundle).

A support bundle leaves the agency (to a vendor, a ticket system), so it must hold no plate: the
journal of an older firmware, a stray log line or a tool's output may carry one. Rather than trust
every source to be clean, diagnose.sh runs this over the bundle before packing it: each token that
looks like a plate and is one the unit holds (reads, hits, hotlist entries, holds) is replaced by
`<plate>`, and the command says how many it replaced per file. Tokens are collected first and looked
up as a set, so a two-million-entry hotlist is scanned once, not per token.

No login: it shows no unit data, only counts per file, and it opens the database read-only, which the
file modes (0600, the service user) already reserve to whoever could read the plates directly.
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
from pathlib import Path

TOKEN = re.compile(rb"(?<![A-Za-z0-9])[A-Z0-9]{2,10}(?![A-Za-z0-9])")
REDACTED = b"<plate>"
_MAX_FILE_BYTES = 256 * 1024 * 1024


def _tokens(paths: list[Path]) -> set[str]:
    found: set[str] = set()
    for path in paths:
        found.update(m.group().decode() for m in TOKEN.finditer(path.read_bytes()))
    return found


def stored_plates(conn: sqlite3.Connection, candidates: set[str]) -> set[str]:
    """Which of `candidates` the unit holds anywhere a plate is stored."""
    if not candidates:
        return set()
    hits: set[str] = set()
    ordered = sorted(candidates)
    for table, column in (("reads", "plate"), ("reads", "plate_raw"), ("hits", "entry_plate"), ("holds", "plate")):
        for i in range(0, len(ordered), 500):
            chunk = ordered[i:i + 500]
            try:
                hits |= {r[0] for r in conn.execute(
                    f"SELECT DISTINCT {column} FROM {table} WHERE {column} IN ({','.join('?' * len(chunk))})", chunk)}
            except sqlite3.OperationalError:
                continue
    try:
        for (plate,) in conn.execute("SELECT plate FROM hotlist_entries"):  # one pass, no plate index there
            if plate in candidates:
                hits.add(plate)
        for (detail,) in conn.execute("SELECT detail FROM audit_log WHERE detail LIKE '%plate%'"):
            hits |= _plates_in(detail) & candidates  # searched-for plates (query terms, manual entries)
    except sqlite3.OperationalError:
        pass
    return hits


def _plates_in(detail: str) -> set[str]:
    """Values under any key naming a plate, at any depth of an audit entry's detail."""
    found: set[str] = set()

    def walk(value, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and "plate" in key.lower():
            found.add("".join(ch for ch in value.upper() if ch.isalnum()))

    try:
        walk(json.loads(detail))
    except ValueError:
        pass
    return found


def scrub_dir(conn: sqlite3.Connection, folder: Path) -> dict:
    """Rewrite every regular file under `folder` without the unit's plates; returns counts per file."""
    paths = [p for p in sorted(Path(folder).rglob("*")) if p.is_file() and not p.is_symlink()
             and p.stat().st_size <= _MAX_FILE_BYTES]
    plates = {p.encode() for p in stored_plates(conn, _tokens(paths))}
    replaced: dict[str, int] = {}
    for path in paths:
        data = path.read_bytes()
        count = 0

        def swap(match: re.Match) -> bytes:
            nonlocal count
            if match.group() in plates:
                count += 1
                return REDACTED
            return match.group()

        cleaned = TOKEN.sub(swap, data)
        if count:
            path.write_bytes(cleaned)
            replaced[str(path.relative_to(folder))] = count
    return {"files": len(paths), "plates_known": len(plates), "replaced": replaced}


def cmd_scrub(args) -> int:
    from firmware.cli import EXIT_OK, EXIT_USAGE, emit, load_unit_config
    from firmware.storage.db import DB_NAME, connect

    config = load_unit_config(args)
    if not args.folder.is_dir():
        print(f"scrub: {args.folder} is not a directory", file=sys.stderr)
        return EXIT_USAGE
    db = config.unit.data_dir / DB_NAME
    if not db.exists():
        emit({"event": "scrub", "files": 0, "plates_known": 0, "replaced": {}, "note": "no database: no plates"})
        return EXIT_OK
    conn = connect(db, readonly=True)
    try:
        emit({"event": "scrub", **scrub_dir(conn, args.folder)})
    finally:
        conn.close()
    return EXIT_OK


def register(sub) -> None:
    from firmware.cli import add_common

    p = sub.add_parser("scrub", help="replace every plate this unit stores by <plate> in the files of a folder"
                                     " (diagnose.sh runs it over the support bundle)")
    add_common(p)  # prints one JSON object whether or not --json is given
    p.add_argument("folder", type=Path)
    p.set_defaults(func=cmd_scrub)
