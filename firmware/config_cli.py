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
    validate.set_defaults(func=_validate)

    show = config_sub.add_parser("show", help="print the effective config as JSON")
    add_common(show, json_flag=False)
    show.set_defaults(func=_show)


def _validate(args) -> int:
    try:
        load_config(args.file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(str(problem), file=sys.stderr)
        print(f"{args.file}: {len(exc.problems)} problem(s)", file=sys.stderr)
        return EXIT_FAILED
    print(f"{args.file}: ok")
    return EXIT_OK


SECRETS = (("sync", "password"),)


def _show(args) -> int:
    config = load_unit_config(args).model_dump(mode="json")
    for section, key in SECRETS:   # the effective config goes into support bundles: no secrets in it
        if config[section].get(key):
            config[section][key] = "<redacted>"
    print(json.dumps(config, indent=2))
    return EXIT_OK
