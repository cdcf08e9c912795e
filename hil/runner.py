"""One scenario, start to finish: inputs from outside, faults on a timeline, then the judge.

The rig owns the world around the unit (the road it sees, the sky it hears, the agency's broker, its
power, its disk, its clock) and nothing inside it: the daemon runs as its own process with a config
file, exactly as systemd runs it; the rig stops it with SIGTERM once the clip has played and
everything stored has been delivered, or pulls its power with SIGKILL when the scenario says so.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from hil import faults
from hil.bench import BenchOptions, GpioProbe, MonitorPlayer, SerialGps
from hil.broker import Agency, Mosquitto, Recorder, make_pki, mosquitto_binary
from hil.gps import PtyGps, Route
from firmware.config import UnitConfig
from firmware.sync.testbroker import free_port
from hil.judge import Evidence, check_screen, judge
from hil.scenario import Scenario
from hil.scene import Vehicle, in_view_s, render
from hil.target import LocalTarget, Target
from hil.unitconfig import base_config, deep_merge, to_toml

UNIT_ID = "hil-unit"
AGENCY = "hilagency"
SETTLE_S = 4.0
SCREEN_USER, SCREEN_PIN = "hil.officer", "482916"


@dataclass
class Outcome:
    """What a run came to: pass, fail, skip (cannot run here), xfail/xpass (a known, named failure)."""

    name: str
    file: str
    status: str
    seconds: float
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    work: str | None = None
    expected_to_fail_until: str | None = None

    @property
    def failed(self) -> bool:
        return self.status in ("fail", "error", "xpass")


def vehicles_of(scenario: Scenario) -> list[Vehicle]:
    out = []
    for v in scenario.vehicles:
        enter = scenario.lead_in_s + v.enter_s
        leave = scenario.lead_in_s + (v.leave_s if v.leave_s is not None else v.enter_s + in_view_s(v.speed_kmh))
        out.append(Vehicle(v.plate, enter, leave, v.lane, v.style, tuple(v.conditions)))
    return out


def clip_seconds(scenario: Scenario, vehicles: list[Vehicle]) -> float:
    last = max((v.leave_s for v in vehicles), default=scenario.lead_in_s)
    return last + scenario.tail_s


def skip_reason(scenario: Scenario, target: Target) -> str | None:
    """Why this scenario cannot run on this machine (said plainly, never a silent pass)."""
    kinds = {f.kind for f in scenario.faults}
    if mosquitto_binary() is None:
        return "mosquitto is not installed (.ci/install-mosquitto.sh)"
    if "disk_full" in kinds and not (target.local_files and os.geteuid() == 0):
        return "disk_full needs root on a local target (a tmpfs is mounted as the unit's data dir)"
    if "clock_jump" in kinds and not (target.local_files and faults.libfaketime()):
        return "clock_jump needs libfaketime (apt-get install faketime) on a local target"
    return None


class Run:
    """The moving parts of one scenario run; `execute()` returns its Outcome."""

    def __init__(self, scenario: Scenario, path: Path, target: Target, *, long: bool, keep: Path | None,
                 log=print, bench: BenchOptions | None = None):
        self.s = scenario
        self.path = path
        self.target = target
        self.long = long
        self.keep = keep
        self.log = log
        self.rng = random.Random(scenario.seed)
        self.work = Path(tempfile.mkdtemp(prefix="alpr-hil-", dir=str(keep) if keep else None))
        self.data_dir = self.work / "data"
        self.frames = self.work / "frames"
        self.notes: list[str] = []
        self.exit_codes: list[int | None] = []
        self.kills = 0
        self.kill_times: list[float] = []
        self.screen_url: str | None = None
        self.starts = 0
        self.started_at = 0.0
        self.camera_t0: float | None = None
        self._cleanup: list = []
        self.mounted = False
        self.timeline_errors: list[str] = []
        self.bench = bench or BenchOptions()
        self.monitor: MonitorPlayer | None = None
        self.probe: GpioProbe | None = None

    # -- set-up -----------------------------------------------------------------------------------
    def _setup(self) -> None:
        self.vehicles = vehicles_of(self.s)
        self.clip_s = clip_seconds(self.s, self.vehicles)
        freeze = next(((f.at_s, f.seconds) for f in self.s.faults if f.kind == "camera_frozen"), None)
        render(self.frames, self.vehicles, fps=self.s.fps, duration_s=self.clip_s, seed=self.s.seed,
               conditions=tuple(self.s.conditions), freeze=freeze)
        self.pki = make_pki(self.work / "pki", UNIT_ID)
        persistence = not any(f.kind == "broker_restart_clean" for f in self.s.faults)
        self.broker = Mosquitto(self.work / "broker", self.pki, persistence=persistence).start()
        self._cleanup.append(self.broker.stop)
        self.recorder = Recorder(self.broker.port, self.pki, self.work / "uplink.jsonl", AGENCY).start()
        self._cleanup.append(self.recorder.stop)
        self.agency = Agency(self.broker.port, self.pki, AGENCY)
        self._cleanup.append(self.agency.close)
        route = Route(tuple(tuple(p) for p in self.s.route.waypoints), self.s.route.speed_kmh / 3.6)
        if self.bench.nmea_device:
            self.gps = SerialGps(route, self.bench.nmea_device, unplug_command=self.bench.unplug_command,
                                 plug_command=self.bench.plug_command)
            gps_port = self.bench.unit_gps_port
        else:
            self.gps = PtyGps(route, self.work / "gps-tty")
            gps_port = str(self.gps.link)
        self._cleanup.append(self.gps.close)
        if self.bench.gpio_probe:
            self.probe = GpioProbe.gpiomon(self.bench.gpio_probe).start()
            self._cleanup.append(self.probe.stop)
        camera_kind, camera_uri = ("folder", None)
        if self.bench.monitor:
            camera_kind, _, camera_uri = self.bench.unit_camera.partition(":")
        if not self.target.local_files:   # a bench unit gets the certificates (and frames) it is told to use
            for path in sorted((self.work / "pki").iterdir()):
                self.target.put(str(path), path.read_bytes())
            if not self.bench.monitor:
                for path in sorted(self.frames.iterdir()):
                    self.target.put(str(path), path.read_bytes())
        self.data_dir.mkdir()
        if any(f.kind == "disk_full" for f in self.s.faults):
            faults.mount_tmpfs(self.data_dir, 48)
            self.mounted = True
        config = deep_merge(base_config(
            unit_id=UNIT_ID, data_dir=str(self.data_dir), frames_dir=str(self.frames), fps=self.s.fps,
            gps_port=gps_port, broker_port=self.broker.port, pki=self.pki, public_key=self.agency.public_key_hex,
            agency=AGENCY, camera_kind=camera_kind, camera_uri=camera_uri), self.s.config)
        for camera in config.get("cameras", []):
            camera.setdefault("uri", str(self.frames))   # a scenario may reshape the camera, not move its input
        if self.s.expect.screen and "screen" in UnitConfig.model_fields:
            port = free_port()
            config["screen"] = {**config.get("screen", {}), "listen": f"127.0.0.1:{port}"}
            self.screen_url = f"http://127.0.0.1:{port}"
        self.config_path = str(self.work / "unit.toml")
        self.target.put(self.config_path, to_toml(config).encode())
        self.env: dict[str, str] = {}
        if any(f.kind == "clock_jump" for f in self.s.faults):
            self.env = faults.faketime_env(self.work / "faketime")
        if self.screen_url:   # an officer the rig can log in as, sent as the agency sends its roster
            from datetime import date

            from firmware.auth import hash_credential

            self.agency.roster([{"id": SCREEN_USER, "name": "HIL officer", "roles": ["officer"],
                                 "credential": hash_credential(SCREEN_PIN, ln=10), "trained_on": date.today().isoformat()}])
        if self.s.hotlist:
            self.agency.hotlist([h.model_dump() for h in self.s.hotlist])   # retained: waits for the unit

    # -- the daemon -------------------------------------------------------------------------------
    def start_daemon(self) -> None:
        self.starts += 1
        self.target.start(self.config_path, self.env, self.work / "daemon.log", tunnel_port=self.broker.port,
                          screen_port=int(self.screen_url.rsplit(":", 1)[1]) if self.screen_url else None)
        if self.starts == 1 and self.bench.monitor:
            self.monitor = MonitorPlayer(self.frames, self.s.fps).start()
            self._cleanup.append(self.monitor.stop)
        if self.starts == 1:
            self.started_at = time.monotonic()
            self.started_wall = time.time()

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at

    def kill9(self) -> None:
        """Power loss: SIGKILL, then a restart that sees only the road still ahead (a live camera)."""
        self.kill_times.append(time.time())
        self.target.signal(signal.SIGKILL)
        self.exit_codes.append(self.target.wait(30))
        self.kills += 1
        shown = self.clip_position()
        if shown is not None:
            for frame in sorted(self.frames.iterdir()):
                if int(frame.stem.split("_")[1]) < int(shown * self.s.fps):
                    frame.unlink()
        time.sleep(self.rng.uniform(0.2, 1.5))
        self.start_daemon()

    def clip_position(self) -> float | None:
        """Seconds of the clip the camera has shown, from the unit's own health reports."""
        health = self.recorder.latest("health")
        if not health or self.camera_t0 is None:
            return None
        return time.time() - self.camera_t0

    def _watch_camera_start(self) -> None:
        """The moment the first frame is read (health: frames > 0), for live-camera restarts."""
        for message in self.recorder.of("health"):
            for camera in (message.body or {}).get("cameras", []) or []:
                if camera.get("frames", 0) > 0 and self.camera_t0 is None:
                    self.camera_t0 = message.arrived - camera["frames"] / self.s.fps

    def camera_ended(self) -> bool:
        if self.monitor is not None:
            return self.monitor.ended()
        health = self.recorder.latest("health")
        cameras = (health or {}).get("cameras") or []
        return bool(cameras) and all(c.get("ended") for c in cameras)

    # -- the run ----------------------------------------------------------------------------------
    def execute(self) -> Outcome:
        t0 = time.monotonic()
        reason = skip_reason(self.s, self.target)
        if reason:
            self.close(keep_work=False)
            return Outcome(self.s.name, str(self.path), "skip", 0.0, notes=[reason])
        failures: list[str] = []
        figures: dict = {}
        try:
            self._setup()
            faults.before_start(self)
            self.gps.start()
            time.sleep(1.5)   # the receiver talks before the unit boots, as in a car
            self.start_daemon()
            timeline = threading.Thread(target=faults.timeline, args=(self,), name="hil-faults", daemon=True)
            timeline.start()
            snapshot = self.work / "snapshot.db"
            deadline = time.monotonic() + self.s.max_run_s + self.long_extra()
            while time.monotonic() < deadline:
                self._watch_camera_start()
                if self.camera_ended() and not timeline.is_alive():
                    break
                if self.target.pid() is None and not timeline.is_alive():
                    break   # the daemon ended by itself
                time.sleep(0.5)
            else:
                failures.append(f"the clip did not finish within max_run_s={self.s.max_run_s:.0f} s")
            timeline.join(5)
            time.sleep(SETTLE_S)   # what the last fault set off (an event, a reconnect) lands before the stop
            evidence = Evidence(self.s, self.vehicles, self.gps, self.recorder, snapshot, self.target,
                                str(self.data_dir))
            evidence.screen_url = self.screen_url
            if self.probe is not None:
                evidence.alert_edges = self.probe.rising()
                evidence.shown_at = self.monitor.started_at if self.monitor else None
            if self.screen_url:
                evidence.screen_failures = check_screen(evidence, SCREEN_USER, SCREEN_PIN)
            evidence.await_delivery(self.s.expect.delivery_timeout_s if self.s.expect.delivered_exactly_once else 0)
            self.target.signal(signal.SIGTERM)
            rc = self.target.wait(60)
            if rc is None:
                failures.append("the daemon did not stop within 60 s of SIGTERM")
                self.target.signal(signal.SIGKILL)
                rc = self.target.wait(10)
            self.exit_codes.append(rc)
            evidence.final(self.exit_codes, self.kill_times)
            failures += self.timeline_errors
            result = judge(evidence)
            failures += result.failures
            figures = result.figures
            if self.camera_t0 is not None:
                figures["first_frame_after_start_s"] = round(self.camera_t0 - self.started_wall, 1)
            figures["kills"] = self.kills
        except Exception as exc:  # noqa: BLE001 - a rig error is a failed scenario with its reason, never a traceback
            failures.append(f"rig error: {type(exc).__name__}: {exc}")
            self.target.signal(signal.SIGKILL)
            self.target.wait(10)
        finally:
            self.close(keep_work=self.keep is not None)
        status = "fail" if failures else "pass"
        if self.s.expected_to_fail_until:
            status = "xfail" if failures else "xpass"
        return Outcome(self.s.name, str(self.path), status, round(time.monotonic() - t0, 1), failures,
                       self.notes, figures, str(self.work) if self.keep else None, self.s.expected_to_fail_until)

    def long_extra(self) -> float:
        return sum((f.long_seconds or f.seconds) for f in self.s.faults if self.long and f.long_seconds)

    def fault_seconds(self, fault) -> float:
        return fault.long_seconds if self.long and fault.long_seconds is not None else fault.seconds

    def close(self, keep_work: bool) -> None:
        for stop in reversed(self._cleanup):
            try:
                stop()
            except Exception:  # noqa: BLE001 - tearing down: go on with the rest
                pass
        self._cleanup.clear()
        self.target.close()
        if self.mounted:
            faults.umount(self.data_dir)
            self.mounted = False
        if not keep_work:
            shutil.rmtree(self.work, ignore_errors=True)


def run_scenario(scenario: Scenario, path: Path, target: Target | None = None, *, long: bool = False,
                 keep: Path | None = None, log=print, bench: BenchOptions | None = None) -> Outcome:
    return Run(scenario, path, target or LocalTarget(), long=long, keep=keep, log=log, bench=bench).execute()


__all__ = ["Outcome", "Run", "run_scenario", "subprocess"]
