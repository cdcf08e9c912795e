"""`alpr-unit run` (the capture daemon) and `alpr-unit demo` (the same daemon on bundled input)."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path

from firmware.cli import EXIT_OK, EXIT_RUNTIME, add_common, load_unit_config, number
from firmware.logs import setup_logging

log = logging.getLogger(__name__)


def register(sub) -> None:
    run = sub.add_parser("run", help="run the capture daemon until SIGTERM/SIGINT")
    add_common(run, json_flag=False)
    run.add_argument("--json", action="store_true", help="log one JSON object per line whatever logging.format says")
    run.add_argument("--seconds", type=number(0, 10 ** 9, float), default=None, help="stop after this many seconds")
    run.add_argument("--until-sources-end", action="store_true",
                     help="stop when every (finite) frame source has ended and been processed")
    run.set_defaults(func=_run)

    demo = sub.add_parser("demo", help="run the daemon on the bundled sample clip, GPS route and hotlist")
    demo.add_argument("--data-dir", type=Path, default=Path("demo-data"), help="where the demo stores its data")
    demo.add_argument("--seconds", type=number(0, 10 ** 9, float), default=None,
                      help="stop after this many seconds")
    demo.add_argument("--fps", type=float, default=10.0, help="replay rate of the clip")
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.add_argument("--screen", nargs="?", const="127.0.0.1:8080", default=None, metavar="HOST:PORT",
                      help="also serve the officer's screen (default 127.0.0.1:8080) with a demo roster, and keep "
                           "it up after the clip until Ctrl-C")
    demo.set_defaults(func=_demo)


def _stop_on_signals(stop: threading.Event) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())


def _run(args) -> int:
    from firmware.app import Unit

    config = load_unit_config(args)
    setup_logging(config.logging.level, "json" if args.json else config.logging.format)
    from firmware.config_warnings import config_warnings

    for problem in config_warnings(config):
        log.warning("config warning", extra={"event": "config.warning", "key": problem.key, "problem": problem.message})
    stop = threading.Event()
    _stop_on_signals(stop)
    unit = Unit(config)
    unit.start()
    try:
        unit.run(stop, max_seconds=args.seconds, until_sources_end=args.until_sources_end)
    finally:
        unit.stop()
    if unit.unsaved_at_stop:   # reads the unit saw and alerted on but could not store: never "ok"
        print(f"storage error: {unit.unsaved_at_stop} read(s) or image(s) could not be stored before shutdown",
              file=sys.stderr)
        return EXIT_RUNTIME
    return EXIT_OK


def _demo(args) -> int:
    from firmware.demo import run_demo

    setup_logging("WARNING", "text")
    stop = threading.Event()
    if args.screen:
        _stop_on_signals(stop)
    summary = run_demo(args.data_dir.resolve(), args.seconds, args.fps, screen=args.screen, stop=stop)
    if args.json:
        print(json.dumps(summary))
    else:
        print("summary: " + ", ".join(f"{k}={v}" for k, v in summary.items()))
    return EXIT_OK
