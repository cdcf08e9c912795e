"""`alpr-unit` command line: a thin dispatcher over subsystem command modules.

Each subsystem owns its commands in a module with `register(subparsers)`; benchmarks are listed
in BENCHES and share the `bench` command. Exit codes: 0 ok, 1 a check failed, 2 bad usage or
config, 3 the unit's storage or hardware failed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_RUNTIME = 0, 1, 2, 3

COMMAND_MODULES = [
    "firmware.config_cli",
    "firmware.daemon_cli",
    "firmware.recognition.cli",
    "firmware.gnss.cli",
    "firmware.hotlist.cli",
    "firmware.sync.cli",
    "firmware.retention.cli",
    "firmware.retention.scrub",
    "firmware.selftest",
    "firmware.hit_cli",
    "firmware.provision_cli",
    "firmware.storage.cli",
]

# bench name -> module exposing add_arguments(parser) and run(args) -> dict
BENCHES = {
    "pipeline": "firmware.pipeline_bench",
    "recognition": "firmware.recognition.bench",
    "gps": "firmware.gnss.bench",
    "hotlist": "firmware.hotlist.bench",
    "sync": "firmware.sync.bench",
    "purge": "firmware.retention.bench",
    "alert": "firmware.screen.bench",
    "camera": "firmware.frames.bench",
}


def add_common(parser: argparse.ArgumentParser, json_flag: bool = True) -> None:
    """Options every command that touches a unit's data takes."""
    parser.add_argument("--config", type=Path, default=None,
                        help="unit config (default /etc/alpr-unit/unit.toml if it exists, else built-in defaults)")
    parser.add_argument("--data-dir", type=Path, default=None, help="override unit.data_dir")
    if json_flag:
        parser.add_argument("--json", action="store_true", help="one JSON object per line")


def number(low: float, high: float, kind: type = int):
    """An argparse type: a whole number (kind=float: a finite number) from `low` to `high`, else a usage
    error (exit 2) naming the range; a huge id or count would otherwise fail deep in SQLite or a library."""
    import math

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or (kind is float and not math.isfinite(value)) or not low <= value <= high:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what} from {low} to {high}")
        return value

    return parse


def existing_path(what: str = "file"):
    """An argparse type for a path the user names for a command to read: one that is not there is bad usage
    (exit 2, naming it) before the command starts, not a storage error (exit 3) when it is opened later; a
    disk error on a file that is there stays exit 3. what="file" also refuses a folder."""

    def parse(text: str) -> Path:
        path = Path(text)
        if not path.exists():
            raise argparse.ArgumentTypeError(f"no such {what}: {text!r}")
        if what == "file" and path.is_dir():
            raise argparse.ArgumentTypeError(f"{text!r} is a folder, not a file")
        return path

    return parse


def not_utf8(args: argparse.Namespace) -> str | None:
    """The first text argument that is not UTF-8 (bytes the shell passed through as surrogates): such text
    cannot be stored or audited, so the command is refused before it starts (exit 2)."""
    for name, value in vars(args).items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return name.replace("_", "-")
    return None


def load_unit_config(args: argparse.Namespace):
    """Config for a command: --config, else the default path when present, else defaults."""
    from firmware.config import DEFAULT_CONFIG_PATH, load_config

    path = args.config
    if path is None and DEFAULT_CONFIG_PATH.exists():
        path = DEFAULT_CONFIG_PATH
    return load_config(path, getattr(args, "data_dir", None))


def emit(obj: dict, as_json: bool = True) -> None:
    """One JSON object per line for machines; for people, aligned `key  value` lines (UTC times)."""
    if as_json:
        print(json.dumps(obj, default=str), flush=True)
    else:
        from firmware.tables import people

        width = max((len(str(k)) for k in obj), default=0)
        for key, value in obj.items():
            print(f"{str(key) + ':':<{width + 1}}  {people(value)}", flush=True)


def _optional_module(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:  # not written yet; anything else missing is a real error
            return None
        raise


def _register_bench(subparsers) -> None:
    bench = subparsers.add_parser("bench", help="benchmarks that print JSON figures")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    for name, module_name in BENCHES.items():
        module = _optional_module(module_name)
        if module is None:
            continue
        parser = bench_sub.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0])
        parser.add_argument("--json", action="store_true", help="print JSON (always JSON; kept for symmetry)")
        module.add_arguments(parser)
        parser.set_defaults(func=lambda args, m=module: (emit(m.run(args)), EXIT_OK)[1])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alpr-unit", description="In-vehicle ALPR unit firmware")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")
    for name in COMMAND_MODULES:
        module = _optional_module(name)
        if module is not None:
            module.register(sub)
    _register_bench(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    import os

    # data at rest: database, WAL, images and alert files 0640, folders 0750 (issue 17); put back after the
    # command so a caller running `main` in-process (tests, tools) keeps its own
    previous = os.umask(0o027)
    try:
        return _main(argv)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the one guard: no traceback reaches a user, for any input
        return _fail(exc)
    finally:
        os.umask(previous)


def _fail(exc: BaseException) -> int:
    """One line a person can act on, and the exit code the README promises."""
    import sqlite3

    code = getattr(exc, "exit_code", None)
    if isinstance(code, int):
        print(f"error: {exc}", file=sys.stderr)
        return code
    if isinstance(exc, sqlite3.DatabaseError):
        print(f"storage error: the unit database cannot be used ({exc}): it is not a SQLite database or it is "
              "damaged; run `alpr-unit selftest` and see the technician guide", file=sys.stderr)
        return EXIT_RUNTIME
    if isinstance(exc, OSError):
        print(f"storage error: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    print(f"internal error: {type(exc).__name__}: {exc} (set ALPR_DEBUG=1 for the traceback)", file=sys.stderr)
    if os_debug():
        import traceback

        traceback.print_exc()
    return EXIT_RUNTIME


def os_debug() -> bool:
    import os

    return os.environ.get("ALPR_DEBUG") == "1"


def _main(argv: list[str] | None = None) -> int:
    from firmware.config import ConfigError
    from firmware.storage.db import StorageError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from firmware import __version__

        print(__version__)
        return EXIT_OK
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    bad_text = not_utf8(args)
    if bad_text:
        print(f"error: the value given for {bad_text} is not UTF-8 text", file=sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except StorageError as exc:
        print(f"storage error: {exc}", file=sys.stderr)
        return EXIT_RUNTIME


if __name__ == "__main__":
    sys.exit(main())
