"""Hardware-in-the-loop rig: scripted scenarios against the whole daemon, through its real seams.

A scenario (TOML in hil/scenarios/) names the vehicles that pass, the hotlist, the GPS route and
the faults to inject, and what the unit must do. The rig renders the frames, feeds NMEA through a
real pty at real rate (the unit reads it as a serial port), starts `alpr-unit run` as a process,
injects faults (GPS unplug, SIGKILL), then judges the unit only by what it produced: the database,
the alert file and its exit status. On a bench unit the same scenario runs with the frames shown to
its camera and the pty replaced by a USB-serial loopback.

    python hil/rig.py hil/scenarios/stolen-car-pass.toml [--keep DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import tty
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from firmware import demo  # noqa: E402


class PtyGps:
    """A GNSS receiver on a pty: NMEA epochs at real rate; `unplug()` closes it like a pulled USB cable."""

    def __init__(self, nmea_path: Path, rate_hz: float = 1.0):
        self.lines = [l for l in Path(nmea_path).read_text().splitlines() if l.startswith("$")]
        self.period = 1.0 / rate_hz
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.stop = threading.Event()
        self.unplugged = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        epoch: list[str] = []
        index = 0
        while not self.stop.is_set():
            line = self.lines[index % len(self.lines)]
            index += 1
            if line.startswith(("$GPRMC", "$GNRMC")) and epoch:
                if not self.unplugged.is_set():
                    try:
                        os.write(self.master, ("\r\n".join(epoch) + "\r\n").encode())
                    except OSError:
                        pass
                epoch = []
                if self.stop.wait(self.period):
                    return
            epoch.append(line)

    def start(self) -> None:
        self.thread.start()

    def unplug(self, seconds: float) -> None:
        self.unplugged.set()
        time.sleep(seconds)
        self.unplugged.clear()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


def render_vehicles(folder: Path, vehicles: list[dict], seed: int, lead_in_frames: int) -> None:
    plates = tuple(v["plate"] for v in vehicles)
    styles = tuple(v.get("style", "white") for v in vehicles)
    original = demo.DEMO_PLATES, demo.DEMO_STYLES
    demo.DEMO_PLATES, demo.DEMO_STYLES = plates, styles
    try:
        demo.render_clip(folder, seed=seed, lead_in_frames=lead_in_frames)
    finally:
        demo.DEMO_PLATES, demo.DEMO_STYLES = original


def unit_config(work: Path, gps_port: str, fps: float) -> Path:
    config = work / "unit.toml"
    config.write_text(f"""
[unit]
id = "hil-unit"
data_dir = "{work / 'data'}"
min_free_mb = 1

[[cameras]]
id = "front"
kind = "folder"
uri = "{work / 'frames'}"
fps = {fps}
queue_size = 64

[gps]
source = "serial"
port = "{gps_port}"
baud = 9600

[alerts]
sinks = ["log", "recording"]
""")
    return config


def alpr(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "firmware", *args], capture_output=True, text=True, cwd=REPO, **kw)


RIG_USER = "hil.admin"


def enrol(data_dir: Path) -> None:
    """The rig stands in for the agency: the unit gets a roster (through the real store function, as the
    signed downlink would) with the rig's administrator, who loads the scenario's hotlist."""
    from datetime import date, datetime, timezone

    from firmware.roster import store_roster
    from firmware.storage.db import open_database, transaction
    from firmware.sync.downlink import Roster

    roster = Roster.model_validate({"users": [{"id": RIG_USER, "name": "HIL rig", "roles": ["administrator"],
                                               "trained_on": date.today().isoformat()}]})
    conn = open_database(data_dir)
    try:
        transaction(conn, lambda c: store_roster(c, roster, seq=1, at=datetime.now(timezone.utc)))
    finally:
        conn.close()


def run_scenario(path: Path, work: Path) -> dict:
    scenario = tomllib.loads(Path(path).read_text())
    # The receiver's first epoch completes only when the second begins (1-2 s at 1 Hz); reads before a
    # unit's first fix honestly carry no position, so scenarios start with empty road (lead_in_s).
    fps = scenario.get("fps", 10)
    render_vehicles(work / "frames", scenario["vehicles"], scenario.get("seed", 11),
                    int(scenario.get("lead_in_s", 3.0) * fps))
    gps = PtyGps(demo.asset("demo-route.nmea"))
    gps.start()
    config = unit_config(work, gps.port, fps)
    failures: list[str] = []
    try:
        if scenario.get("hotlist"):
            hotlist = work / "hotlist.csv"
            hotlist.write_text("PlateNumber,PlateState,Category\n" + "".join(
                f"{h['plate']},{h.get('state', '')},{h.get('category', 'stolen vehicle')}\n" for h in scenario["hotlist"]))
            enrol(work / "data")
            result = alpr("hotlist", "import", str(hotlist), "--list", "hil", "--format", "csv", "--config", str(config),
                          "--user", RIG_USER)
            if result.returncode != 0:
                failures.append(f"hotlist import failed: {result.stderr.strip()}")
        time.sleep(1.5)   # the receiver has been talking before the unit boots, as in a car
        proc = subprocess.Popen([sys.executable, "-m", "firmware", "run", "--config", str(config),
                                 "--until-sources-end", "--seconds", "300"], cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        faults = scenario.get("faults", {})
        if "gps_unplug_after_s" in faults:
            time.sleep(faults["gps_unplug_after_s"])
            gps.unplug(faults.get("gps_unplug_s", 3))
        _, stderr = proc.communicate(timeout=400)
        if proc.returncode != 0:
            failures.append(f"daemon exited {proc.returncode}: {stderr[-500:]}")
    finally:
        gps.close()
    return judge(scenario, work / "data", failures)


def judge(scenario: dict, data: Path, failures: list[str]) -> dict:
    conn = sqlite3.connect(f"file:{data / 'alpr.db'}?mode=ro", uri=True)
    reads = conn.execute("SELECT plate, position_method FROM reads").fetchall()
    hits = [r[0] for r in conn.execute("SELECT r.plate FROM hits h JOIN reads r ON r.id = h.read_id")]
    events = conn.execute("SELECT kind, source FROM events").fetchall()
    conn.close()
    expect = scenario.get("expect", {})
    plates = [r[0] for r in reads]
    missing = [p for p in expect.get("reads", []) if p not in plates]
    if len(missing) > expect.get("max_missed_reads", 0):
        failures.append(f"plates not read: {missing}")
    for plate in expect.get("hits", []):
        if plate not in hits:
            failures.append(f"expected hit on {plate} missing")
    unexpected = sorted(set(hits) - set(expect.get("hits", [])))
    if unexpected:
        failures.append(f"unexpected hits: {unexpected}")
    unpositioned = [p for p, m in reads if m in ("none", "stale")]
    if expect.get("all_positioned", True) and unpositioned:
        failures.append(f"reads without a current position: {unpositioned}")
    for kind, source in (tuple(e) for e in expect.get("events", [])):
        if (kind, source) not in events:
            failures.append(f"expected event {kind} from {source} missing")
    from firmware.alerts.files import alert_files  # alerts.jsonl and the files it rotated to

    alerted = [json.loads(l)["plate"] for f in alert_files(data) for l in f.read_text().splitlines()]
    if sorted(set(alerted)) != sorted(set(expect.get("hits", []))):
        failures.append(f"alerts {alerted} do not match expected hits {expect.get('hits', [])}")
    return {"scenario": scenario.get("name"), "ok": not failures, "failures": failures, "reads": plates,
            "hits": hits, "alerts": alerted, "events": [list(e) for e in events]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", type=Path, nargs="+")
    parser.add_argument("--keep", type=Path, default=None, help="keep work folders under DIR")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    ok = True
    for path in args.scenario:
        work = Path(tempfile.mkdtemp(prefix="hil-", dir=args.keep))
        result = run_scenario(path, work)
        ok &= result["ok"]
        if args.json:
            print(json.dumps(result))
        else:
            print(f"{'PASS' if result['ok'] else 'FAIL'} {result['scenario']}: reads={result['reads']} hits={result['hits']}")
            for failure in result["failures"]:
                print(f"    {failure}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
