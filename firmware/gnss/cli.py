"""`alpr-unit gps parse|watch`: decode a capture offline, or watch a live receiver.

`parse` is the same decoder the daemon runs, over a file, so a technician (or the gpsd agreement
test) can see exactly which epochs a capture yields and what was thrown away.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections import Counter
from pathlib import Path

from firmware.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_common, emit, load_unit_config, number


def register(sub) -> None:
    gps = sub.add_parser("gps", help="GNSS receiver tools")
    gps_sub = gps.add_subparsers(dest="gps_command", required=True)

    parse = gps_sub.add_parser("parse", help="decode an NMEA capture: one line per fix epoch")
    parse.add_argument("file", type=Path, help="NMEA capture ('-' for stdin); '#' lines are comments")
    parse.add_argument("--json", action="store_true", help="one JSON object per line")
    parse.add_argument("--all", action="store_true", help="also print epochs without a fix (mode 1)")
    parse.add_argument("--stats", action="store_true", help="print the decoder's counters to stderr at the end")
    parse.set_defaults(func=cmd_parse)

    watch = gps_sub.add_parser("watch", help="show live receiver status once a second")
    add_common(watch)
    watch.add_argument("--port", default=None, help="serial device (overrides the config's gps source)")
    watch.add_argument("--baud", default=None, help="baud rate or 'auto'")
    watch.add_argument("--file", type=Path, default=None, help="replay an NMEA file instead of a port")
    watch.add_argument("--seconds", type=number(0, 10 ** 9, float), default=0,
                       help="stop after this long (0 = until Ctrl-C)")
    watch.set_defaults(func=cmd_watch)


def cmd_parse(args: argparse.Namespace) -> int:
    from firmware.gnss.epoch import parse_bytes

    try:
        data = sys.stdin.buffer.read() if str(args.file) == "-" else args.file.read_bytes()
    except OSError as exc:
        print(f"cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    counters: Counter = Counter()
    fixes = parse_bytes(data, counters=counters)
    for fix in fixes:
        if not (fix.has_position or args.all):
            continue
        row = fix.as_json()
        if args.json:
            print(json.dumps(row), flush=False)
        else:
            print(f"{row['time'] or '-':24s} {row['lat'] if row['lat'] is not None else '-':>14} "
                  f"{row['lon'] if row['lon'] is not None else '-':>15} mode={row['mode']} q={row['quality']} "
                  f"sats={row['sats']} hdop={row['hdop']} v={row['speed_mps']} trk={row['track_deg']}")
    sys.stdout.flush()
    if args.stats or not args.json:
        print(json.dumps({"counters": dict(counters)}), file=sys.stderr)
    return EXIT_OK


def cmd_watch(args: argparse.Namespace) -> int:
    from firmware.clock import SystemClock
    from firmware.config import validate_override
    from firmware.gnss.service import GnssService

    config = load_unit_config(args).gps
    update: dict = {}
    if args.port:
        update.update(source="serial", port=args.port)
    if args.file:
        update.update(source="file", file=args.file)
    if args.baud:
        update["baud"] = int(args.baud) if args.baud.isascii() and args.baud.isdigit() else args.baud
    if update:
        config = validate_override(type(config), {**config.model_dump(), **update}, "gps watch options")
    if config.source == "none":
        print("gps source is 'none': give --port DEV or --file FILE, or set gps.source", file=sys.stderr)
        return EXIT_USAGE

    def on_event(kind: str, source: str, detail: dict) -> None:
        emit({"event": kind, "source": source, **detail}, args.json)

    service = GnssService(config, SystemClock(), on_event)
    done = threading.Event()
    service.start()
    elapsed = 0.0
    try:
        while not done.wait(1.0):
            elapsed += 1.0
            status = service.status()
            if args.json:
                emit(status)
            else:
                print(f"{'up' if status['connected'] else 'DOWN':4s} mode={status['mode']} sats={status['sats']} "
                      f"hdop={status['hdop']} lat={status['lat']} lon={status['lon']} "
                      f"age={status['fix_age_s']}s offset={status['clock_offset_s']}s baud={status['baud']}",
                      flush=True)
            if args.seconds and elapsed >= args.seconds:
                break
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()
    return EXIT_OK if service.status()["mode"] is not None else EXIT_FAILED
