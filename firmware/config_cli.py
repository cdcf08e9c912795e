"""`alpr-unit config validate|show`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from firmware.cli import EXIT_FAILED, EXIT_OK, add_common, load_unit_config
from firmware.config import ConfigError, load_config


def register(sub) -> None:
    config = sub.add_parser("config", help="check or print the unit config")
    config_sub = config.add_subparsers(dest="config_command", required=True)

    validate = config_sub.add_parser("validate", help="validate a config file; names file, line and key of mistakes")
    validate.add_argument("file", type=Path)
    validate.add_argument("--strict", action="store_true",
                          help="also refuse (exit 1) what only warns: plaintext credentials, reserved unit ids")
    validate.add_argument("--json", action="store_true", help="one JSON object: ok and the problems")
    validate.set_defaults(func=_validate)

    show = config_sub.add_parser("show", help="print the effective config as JSON (the file, and over it the "
                                              "agency's newest signed change the daemon starts on)")
    add_common(show, json_flag=False)
    show.add_argument("--json", action="store_true", help="the output is JSON either way (kept for symmetry)")
    show.set_defaults(func=_show)


def _validate(args) -> int:
    try:
        load_config(args.file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(str(problem), file=sys.stderr)
        print(f"{args.file}: {len(exc.problems)} problem(s)", file=sys.stderr)
        if getattr(args, "json", False):
            print(json.dumps({"file": str(args.file), "ok": False, "problems": [str(p) for p in exc.problems]}))
        return EXIT_FAILED
    from firmware.config_warnings import config_warnings

    warnings = config_warnings(load_config(args.file), args.file.read_text(encoding="utf-8"), str(args.file))
    for problem in warnings:
        print(f"warning: {problem}", file=sys.stderr)
    as_json = getattr(args, "json", False)
    refused = bool(warnings and args.strict)
    if refused:
        print(f"{args.file}: {len(warnings)} warning(s), refused by --strict", file=sys.stderr)
    if as_json:
        print(json.dumps({"file": str(args.file), "ok": not refused, "problems": [],
                          "warnings": [str(w) for w in warnings]}))
    elif not refused:
        print(f"{args.file}: ok" + (f" ({len(warnings)} warning(s))" if warnings else ""))
    return EXIT_FAILED if refused else EXIT_OK


SECRETS = (("sync", "password"),)


def _show(args) -> int:
    file_config = load_unit_config(args)
    config = _with_downlinked_change(file_config).model_dump(mode="json")
    for section, key in SECRETS:   # the effective config goes into support bundles: no secrets in it
        if config[section].get(key):
            config[section][key] = "<redacted>"
    print(json.dumps(config, indent=2))
    return EXIT_OK


def _with_downlinked_change(file_config):
    """What `apply_at_start` would start on, read-only (the daemon may be running)."""
    from firmware.config_changes import decide, load_changes
    from firmware.storage.db import DB_NAME, connect

    db = Path(file_config.unit.data_dir) / DB_NAME
    if not db.exists():
        return file_config
    conn = connect(db, readonly=True)
    try:
        return decide(file_config, load_changes(conn)).config
    finally:
        conn.close()
