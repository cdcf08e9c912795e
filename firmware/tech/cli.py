"""`alpr-unit-tech`: one entry point for fleet technicians, a subcommand per job.

Every wrong input is a one-line error naming what to fix (exit 2); a check that fails exits 1; a
storage or hardware failure exits 3. No traceback reaches the technician.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_RUNTIME = 0, 1, 2, 3

SUBCOMMANDS = [
    "firmware.tech.provision",
    "firmware.tech.flash",
    "firmware.tech.onunit",
    "firmware.tech.diagnose",
    "firmware.tech.decommission",
]


class TechError(Exception):
    """Bad input or a refused operation: the message says what to do; `code` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.code = code


def unit_paths(root: Path, config_path: Path | None = None):
    """The unit's config loaded from under `root` (/ on a unit, a scratch tree in tests and image builds)."""
    from firmware.config import ConfigError, load_config

    path = config_path or root / "etc/alpr-unit/unit.toml"
    if not path.is_file():
        raise TechError(f"{path}: no unit config - install a provisioning bundle first (alpr-unit-tech install-bundle)")
    try:
        config = load_config(path)
    except ConfigError as exc:
        raise TechError("\n".join(str(p) for p in exc.problems)) from exc
    data_dir = root / str(config.unit.data_dir).lstrip("/")
    return config, path, data_dir


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alpr-unit-tech",
        description="Fleet technician tools for alpr-unit: provision, flash, selftest, diagnose, decommission.",
        epilog="Step by step from a Pi OS image to a unit in service: /usr/share/doc/alpr-unit (docs/technician.md).")
    parser.add_argument("--version", action="store_true", help="print the firmware version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(name).register(sub)
    return parser



def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from firmware import __version__

        print(__version__)
        return EXIT_OK
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    from firmware.config import ConfigError
    from firmware.storage.db import StorageError

    try:
        return int(args.func(args) or 0)
    except TechError as exc:
        print(f"alpr-unit-tech {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"alpr-unit-tech {args.command}: config error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except StorageError as exc:
        print(f"alpr-unit-tech {args.command}: storage error: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    except OSError as exc:
        print(f"alpr-unit-tech {args.command}: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - no traceback reaches a technician (ALPR_DEBUG=1 shows it)
        from firmware.cli import _fail

        print(f"alpr-unit-tech {args.command}: failed", file=sys.stderr)
        return _fail(exc)

