"""`alpr-unit-tech diagnose`: one tarball with what support needs to find a fault, and no plate.

Versions, selftest, the config as `config show` prints it (secrets redacted), database integrity and
schema, sync queue, health history and malfunctions, hotlist ages, maintenance log, `chronyc
tracking`, the kernel log tail and the service journal. Free text from the unit (events, logs) could
carry a plate somewhere nobody expected, so every file is scrubbed at the end against every plate the
unit knows (its reads and hotlists): a support bundle never carries one, whatever the sources said.
"""

from __future__ import annotations

import io
import json
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import time
from datetime import datetime, timezone
from pathlib import Path

from firmware.tech.cli import EXIT_OK, TechError

TOKEN = re.compile(r"[A-Za-z0-9]{2,12}")
REDACTED = "<plate>"


def register(sub) -> None:
    p = sub.add_parser("diagnose", help="collect a support bundle (versions, selftest, redacted config, DB, health; no plate)")
    p.add_argument("--config", type=Path, default=Path("/etc/alpr-unit/unit.toml"), help="unit config")
    p.add_argument("--data-dir", type=Path, help="override unit.data_dir")
    p.add_argument("--out", type=Path, default=Path("/tmp"), help="folder for the bundle (default /tmp)")
    p.add_argument("--gps-timeout", type=float, default=3.0, help="selftest: seconds to wait for a GPS fix")
    p.add_argument("--user", help="your technician id on the agency roster: the hotlist and maintenance listings "
                                  "are access-controlled and audited (without it they are left out)")
    p.add_argument("--provisioning", action="store_true", help="with --user, on a unit that has no roster yet")
    p.set_defaults(func=_diagnose)


def run(command: list[str], timeout: float = 120) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"[{' '.join(command[:3])}: {exc}]\n"
    return done.stdout + (f"\n[exit {done.returncode}] {done.stderr[-4000:]}" if done.returncode else "")


def firmware(*args: str) -> list[str]:
    return [sys.executable, "-m", "firmware", *args]


def known_plates(db: Path) -> set[str]:
    """Every plate string this unit holds (reads, raw reads, hotlist entries), upper-cased."""
    plates: set[str] = set()
    if not db.exists():
        return plates
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        for sql in ("SELECT plate FROM reads", "SELECT plate_raw FROM reads", "SELECT plate FROM hotlist_entries"):
            try:
                plates.update(str(p).upper() for (p,) in conn.execute(sql) if p)
            except sqlite3.OperationalError:
                continue
    finally:
        conn.close()
    return {p.replace("*", "") for p in plates if len(p.replace("*", "")) >= 2}


def scrub(text: str, plates: set[str]) -> tuple[str, int]:
    """Replace every token that is a known plate; returns the text and how many were replaced."""
    count = 0

    def swap(match: re.Match) -> str:
        nonlocal count
        if match.group(0).upper() in plates:
            count += 1
            return REDACTED
        return match.group(0)

    return TOKEN.sub(swap, text), count


def database_report(db: Path) -> dict:
    """Integrity, schema, queue and health history, read-only; no plate-bearing column is read."""
    from firmware.storage import outbox

    if not db.exists():
        return {"database": str(db), "exists": False}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        report = {"database": str(db), "bytes": db.stat().st_size,
                  "integrity_check": [r[0] for r in conn.execute("PRAGMA integrity_check")],
                  "schema": [dict(r) for r in conn.execute("SELECT version, name, applied_at FROM schema_migrations")],
                  "outbox": outbox.summary(conn),
                  "events": [dict(r) for r in conn.execute(
                      "SELECT at, kind, source, detail FROM events ORDER BY at DESC LIMIT 200")],
                  "health_history": [json.loads(r[0]) if r[0][:1] in ("{", "[") else r[0] for r in conn.execute(
                      "SELECT CAST(payload AS TEXT) FROM outbox WHERE kind = 'health' ORDER BY seq DESC LIMIT 48")]}
    except sqlite3.DatabaseError as exc:
        report = {"database": str(db), "error": str(exc)}
    finally:
        conn.close()
    return report


def _diagnose(args) -> int:
    from firmware import __version__
    from firmware.config import ConfigError, load_config
    from firmware.storage.db import DB_NAME

    if not args.config.is_file():
        raise TechError(f"--config {args.config}: no such file")
    try:
        config = load_config(args.config, args.data_dir)
    except ConfigError as exc:
        raise TechError("config error: " + "; ".join(str(p) for p in exc.problems)) from exc
    if not args.out.is_dir():
        raise TechError(f"--out {args.out}: not a folder")
    data_dir = Path(config.unit.data_dir)
    common = ["--config", str(args.config)] + (["--data-dir", str(args.data_dir)] if args.data_dir else [])
    files: dict[str, str] = {}
    manifest = Path(__file__).resolve().parent.parent / "models_data" / "manifest.json"
    if not manifest.exists():
        manifest = Path(__file__).resolve().parents[2] / "models" / "manifest.json"
    models = {}
    if manifest.exists():
        models = {k: v.get("version") for k, v in json.loads(manifest.read_text())["models"].items()}
    os_release = Path("/etc/os-release").read_text() if Path("/etc/os-release").exists() else ""
    model_file = Path("/proc/device-tree/model")
    files["versions.json"] = json.dumps({
        "firmware": __version__, "python": platform.python_version(), "machine": platform.machine(),
        "kernel": platform.release(), "os": dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', os_release, re.M)),
        "board": model_file.read_text().strip("\x00\n") if model_file.exists() else None,
        "models": models, "unit": config.unit.id, "at": datetime.now(timezone.utc).isoformat()}, indent=2)
    files["selftest.jsonl"] = run(firmware("selftest", *common, "--json", "--gps-timeout", str(args.gps_timeout)))
    files["config.json"] = run(firmware("config", "show", *common))
    files["database.json"] = json.dumps(database_report(data_dir / DB_NAME), indent=2, default=str)
    if args.user:   # a login and an access decision (firmware/access.py), audited; no PIN prompt here
        login = ["--user", args.user] + (["--provisioning"] if args.provisioning else [])
        files["hotlists.jsonl"] = run(firmware("hotlist", "show", *common, "--json", *login))
        files["maintenance.jsonl"] = run(firmware("maintenance", "list", *common, "--json", *login))
    else:
        skipped = '{"skipped": "give --user (a technician on the roster) to include this listing"}\n'
        files["hotlists.jsonl"] = files["maintenance.jsonl"] = skipped
    files["sync.json"] = run(firmware("sync", "status", *common, "--json"))
    usage = shutil.disk_usage(data_dir) if data_dir.exists() else None
    files["system.txt"] = (f"uptime_s: {time.clock_gettime(time.CLOCK_BOOTTIME):.0f}\n"
                           + (f"data_dir_free_mb: {usage.free // 2**20} of {usage.total // 2**20}\n" if usage else ""))
    files["chrony.txt"] = run(["chronyc", "-n", "tracking"], 10) if shutil.which("chronyc") else "chronyc not installed\n"
    files["dmesg.txt"] = "\n".join(run(["dmesg", "--ctime"], 10).splitlines()[-200:]) if shutil.which("dmesg") else ""
    files["journal.jsonl"] = (run(["journalctl", "-u", "alpr-unit", "--since", "-2h", "-o", "cat", "--no-pager"], 30)
                              if shutil.which("journalctl") else "journalctl not available\n")

    plates = known_plates(data_dir / DB_NAME)
    redactions = {}
    for name, text in files.items():
        files[name], redactions[name] = scrub(text, plates)
    files["redactions.json"] = json.dumps({"plates_known": len(plates), "replaced": redactions}, indent=2)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = args.out / f"alpr-diagnose-{config.unit.id}-{stamp}.tar.gz"
    with tarfile.open(out, "w:gz") as tar:
        for name, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o640, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    print(out)
    return EXIT_OK
