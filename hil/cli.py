"""`alpr-hil` (also `python -m hil`): run scenarios, list them, soak the unit.

Exit codes as the unit's own CLI: 0 every scenario passed (or was skipped/xfailed with a reason),
1 a scenario failed, 2 bad usage or an invalid scenario file, 3 the rig itself could not run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from firmware.config import ConfigError
from hil import report
from hil.scenario import catalogue, load, resolve


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alpr-hil", description="Hardware-in-the-loop rig for alpr-unit")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run scenario files (or names from hil/scenarios/)")
    run.add_argument("scenarios", nargs="*", help="scenario files or names; none: the short set (--long: all)")
    run.add_argument("--long", action="store_true", help="also the long set, and long fault durations (10 min broker outage)")
    run.add_argument("--junit", type=Path, help="write JUnit XML here")
    run.add_argument("--jsonl", type=Path, help="append one JSON line per scenario here ('-': stdout)")
    run.add_argument("--keep", type=Path, help="keep each run's work folder under DIR (default: removed)")
    run.add_argument("--target", default="local",
                     help="local (default), ssh://[user@]host[:port] (a bench unit) or sh:// (bench code paths, simulated here)")
    run.add_argument("--unit-command", help="how the target runs alpr-unit (default: alpr-unit on ssh targets)")
    bench = run.add_argument_group("bench unit (hil/README.md: wiring)")
    bench.add_argument("--nmea-device", help="the rig's USB-serial adapter wired to the unit's GNSS input")
    bench.add_argument("--unit-gps-port", default="/dev/ttyUSB0", help="the unit's serial port for that wire")
    bench.add_argument("--monitor", action="store_true", help="show frames full-screen to the unit's camera")
    bench.add_argument("--unit-camera", default="picamera2:0", help="KIND:URI of the unit's camera with --monitor")
    bench.add_argument("--gpio-probe", help="'CHIP LINE' of the rig's input wired to the unit's buzzer output")
    bench.add_argument("--unplug-command", help="cuts the receiver's power for gps_unplug (e.g. uhubctl ...)")
    bench.add_argument("--plug-command", help="restores it")
    sub.add_parser("list", help="list the scenarios, their set and faults")
    soak = sub.add_parser("soak", help="run the unit for a while and watch its resources")
    soak.add_argument("--minutes", type=float, default=10.0)
    soak.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    soak.add_argument("--out", type=Path, default=Path("soak-out"), help="folder for samples.csv and the plots")
    soak.add_argument("--max-rss-mb-per-hour", type=float, default=20.0)
    soak.add_argument("--max-fds-per-hour", type=float, default=5.0)
    soak.add_argument("--max-threads-per-hour", type=float, default=2.0)
    soak.add_argument("--fps", type=float, default=4.0, help="camera rate during the soak")
    soak.add_argument("--keep", type=Path, help="keep the unit's work folder under DIR")
    return parser


def _select(names: list[str], long: bool) -> tuple[list[Path], list[str]]:
    if names:
        return [resolve(n) for n in names], []
    paths, problems = [], []
    for path, scenario in catalogue():
        if isinstance(scenario, ConfigError):
            problems.append(str(scenario))
        elif scenario.set == "short" or long:
            paths.append(path)
    return paths, problems


def cmd_run(args) -> int:
    from hil.bench import BenchOptions
    from hil.runner import run_scenario
    from hil.target import make_target

    paths, problems = _select(args.scenarios, args.long)
    scenarios = []
    for path in paths:
        try:
            scenarios.append((path, load(path)))
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 2
    try:
        target = make_target(args.target, args.unit_command)
    except ValueError as exc:
        print(f"alpr-hil: {exc}", file=sys.stderr)
        return 2
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    bench = BenchOptions(nmea_device=args.nmea_device, unit_gps_port=args.unit_gps_port, monitor=args.monitor,
                         unit_camera=args.unit_camera, gpio_probe=args.gpio_probe,
                         unplug_command=args.unplug_command, plug_command=args.plug_command)
    outcomes = []
    jsonl = None
    if args.jsonl and str(args.jsonl) != "-":
        jsonl = open(args.jsonl, "a", encoding="utf-8")
    try:
        for path, scenario in scenarios:
            print(f"running {scenario.name} ({path.name}) ...", flush=True)
            outcome = run_scenario(scenario, path, target, long=args.long, keep=args.keep, bench=bench)
            outcomes.append(outcome)
            print("\n".join(report.summary_lines([outcome])[:-1]), flush=True)
            line = report.json_line(outcome)
            if jsonl:
                jsonl.write(line + "\n")
                jsonl.flush()
            elif args.jsonl:
                print(line, flush=True)
    finally:
        if jsonl:
            jsonl.close()
    print("\n".join(report.summary_lines(outcomes)[-1:]))
    if args.junit:
        report.junit(outcomes, args.junit)
    return 1 if any(o.failed for o in outcomes) else 0


def cmd_list(args) -> int:
    bad = 0
    for path, scenario in catalogue():
        if isinstance(scenario, ConfigError):
            bad += 1
            print(f"INVALID {path.name}: {scenario}")
            continue
        faults = ", ".join(f.kind + (f"({f.variant})" if f.variant else "") for f in scenario.faults) or "-"
        xfail = f"  [xfail until {scenario.expected_to_fail_until}]" if scenario.expected_to_fail_until else ""
        print(f"{path.stem:32} {scenario.set:5} {faults:40} {scenario.name}{xfail}")
    return 2 if bad else 0


def cmd_soak(args) -> int:
    from hil.soak import soak

    return soak(args)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"run": cmd_run, "list": cmd_list, "soak": cmd_soak}[args.command](args)
    except KeyboardInterrupt:
        print("alpr-hil: interrupted", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"alpr-hil: {exc}", file=sys.stderr)
        return 3
