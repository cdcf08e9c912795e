"""On-unit technician commands: write the systemd drop-in, migrate the database, run the selftest.

The package's postinst and the first-boot unit call `units` and `migrate`; `selftest` is
`alpr-unit selftest` under the technician's entry point.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from firmware.tech.cli import EXIT_FAILED, EXIT_OK, EXIT_RUNTIME, TechError, unit_paths


def register(sub) -> None:
    p = sub.add_parser("units", help="write the daemon's systemd drop-in (devices, groups, data path) from the config")
    p.add_argument("--root", type=Path, default=Path("/"), help="system root (default /)")
    p.set_defaults(func=_units)
    p = sub.add_parser("migrate", help="bring the unit's database to this firmware's schema; refuses a downgrade")
    p.add_argument("--root", type=Path, default=Path("/"), help="system root (default /)")
    p.set_defaults(func=_migrate)
    p = sub.add_parser("integrity", help="database quick_check and audit-chain check, read-only (the daily timer)")
    p.add_argument("--root", type=Path, default=Path("/"), help="system root (default /)")
    p.set_defaults(func=_integrity)
    p = sub.add_parser("selftest", help="run `alpr-unit selftest` on this unit (cameras, model, GPS, storage, clock)")
    p.add_argument("--config", type=Path, default=Path("/etc/alpr-unit/unit.toml"), help="unit config")
    p.add_argument("--gps-timeout", type=float, default=5.0, help="seconds to wait for a GPS fix")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=_selftest)


def _units(args) -> int:
    from firmware.tech.units import write_dropin

    config, _, _ = unit_paths(args.root)
    target = write_dropin(config, args.root)
    print(f"units: wrote {target}")
    return EXIT_OK


def schema_versions(db: Path) -> set[int]:
    if not db.exists():
        return set()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    except sqlite3.OperationalError:
        return set()
    finally:
        conn.close()


def known_versions() -> set[int]:
    from firmware.storage.db import _migrations

    return {version for version, _, _ in _migrations()}


def _migrate(args) -> int:
    from firmware.storage.db import DB_NAME, open_database

    _, _, data_dir = unit_paths(args.root)
    if not (data_dir / DB_NAME).exists():
        print(f"migrate: no database in {data_dir} yet (the daemon or `alpr-unit provision` creates it)")
        return EXIT_OK
    before = schema_versions(data_dir / DB_NAME)
    unknown = before - known_versions()
    if unknown:
        raise TechError(f"{data_dir / DB_NAME} has schema migrations {sorted(unknown)} that this firmware does not "
                        "know: it was written by newer firmware. Refusing to downgrade - reinstall the newer "
                        "package (apt-get install alpr-unit=<newer>) or retire the unit with decommission.",
                        EXIT_RUNTIME)
    open_database(data_dir).close()   # applies what is missing, each migration in its own transaction
    after = schema_versions(data_dir / DB_NAME)
    applied = sorted(after - before)
    print(f"migrate: {data_dir / DB_NAME} at schema {max(after)}; applied now: {applied or 'none'}")
    return EXIT_OK


def _selftest(args) -> int:
    command = [sys.executable, "-m", "firmware", "selftest", "--config", str(args.config),
               "--gps-timeout", str(args.gps_timeout)] + (["--json"] if args.json else [])
    try:
        return subprocess.run(command).returncode
    except OSError as exc:
        raise TechError(f"cannot run alpr-unit selftest: {exc}", EXIT_RUNTIME) from exc


def _integrity(args) -> int:
    """For a machine check with no person logged in: ok/broken and where, never the entries themselves."""
    import json

    from firmware.retention.audit import verify_chain
    from firmware.storage.db import DB_NAME

    _, _, data_dir = unit_paths(args.root)
    db = data_dir / DB_NAME
    if not db.exists():
        raise TechError(f"no database in {data_dir}", EXIT_RUNTIME)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        quick = [row[0] for row in conn.execute("PRAGMA quick_check")]
        chain = verify_chain(conn)
    except sqlite3.DatabaseError as exc:
        raise TechError(f"{db}: {exc}", EXIT_RUNTIME) from exc
    finally:
        conn.close()
    problems = [{k: v for k, v in p.items() if k in ("problem", "seq", "expected_seq", "last_seq")}
                for p in chain["problems"]]
    ok = quick == ["ok"] and chain["ok"]
    print(json.dumps({"ok": ok, "quick_check": quick[:5], "audit_entries": chain["entries"],
                      "audit_last_seq": chain["last_seq"], "audit_problems": problems}))
    return EXIT_OK if ok else EXIT_FAILED
