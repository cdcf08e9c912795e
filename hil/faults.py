"""Fault injection from outside the unit: its cable, its sky, its broker, its power, its disk, its clock.

Every fault is something a patrol car really meets, done to the real part: the pty vanishes like a
pulled USB receiver, mosquitto is stopped, the daemon gets SIGKILL (power loss), a tmpfs fills up,
the database file is overwritten, libfaketime moves the wall clock (not the monotonic one, as a bad
RTC or a wrong NTP answer does), forged messages arrive on the real downlink topics.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

LIBFAKETIME_GLOBS = ("/usr/lib/*/faketime/libfaketime.so.1", "/usr/lib/faketime/libfaketime.so.1",
                     "/usr/local/lib/faketime/libfaketime.so.1")


def libfaketime() -> str | None:
    for pattern in LIBFAKETIME_GLOBS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def faketime_env(offset_file: Path) -> dict[str, str]:
    """The daemon's wall clock follows `offset_file` ("+0", "+100d", "-100d"), re-read on every call."""
    offset_file.write_text("+0\n")
    return {"LD_PRELOAD": libfaketime() or "", "FAKETIME_TIMESTAMP_FILE": str(offset_file),
            "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


def mount_tmpfs(path: Path, size_mb: int) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(path)],
                   check=True, capture_output=True)


def umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(folder: Path) -> int:
    """Write a ballast file until the filesystem says ENOSPC (unbuffered, down to the last crumbs);
    returns the bytes written."""
    written = 0
    fd = os.open(folder / ".hil-ballast", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1 << 20, 65536, 4096, 512, 1):
            block = b"\0" * size
            while True:
                try:
                    written += os.write(fd, block)
                except OSError:
                    break
    finally:
        os.close(fd)
    return written


def unfill(folder: Path) -> None:
    (folder / ".hil-ballast").unlink(missing_ok=True)


def corrupt(db: Path, seed: int) -> None:
    """Overwrite the pages after the header with noise: a database that opens but cannot be trusted."""
    import random

    rng = random.Random(seed)
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 4096
    for offset in range(page, len(data), page):
        if rng.random() < 0.7:
            data[offset:offset + page] = bytes(rng.randrange(256) for _ in range(min(page, len(data) - offset)))
    db.write_bytes(bytes(data))


# --- before the daemon starts ---------------------------------------------------------------------

def before_start(run) -> None:
    for fault in run.s.faults:
        if fault.kind == "camera_gone":
            run.frames.rename(run.frames.with_name("frames.away"))
        elif fault.kind == "disk_full" and fault.at_start:
            seed_database(run)   # a unit that has run before: its database exists, the card is full
            fill(run.data_dir)
        elif fault.kind == "clock_jump" and fault.at_start:
            (run.work / "faketime").write_text(f"{fault.days:+g}d\n")
        elif fault.kind == "corrupt_db":
            seed_database(run)
            for suffix in ("-wal", "-shm"):
                (run.data_dir / f"alpr.db{suffix}").unlink(missing_ok=True)
            corrupt(run.data_dir / "alpr.db", run.s.seed)


def seed_database(run) -> None:
    """Yesterday's drive: the daemon runs once (no camera) until a 400-row list sent over the downlink
    is loaded, and stops cleanly; its database is what the fault then spoils."""
    run.frames.rename(run.frames.with_name("frames.later"))
    run.target.start(run.config_path, run.env, run.work / "daemon-seed.log")
    try:
        if not run.recorder.wait_for(lambda: bool(run.recorder.ids.get("health")), 90):
            raise TimeoutError("the unit never came online for its first run")
        run.agency.hotlist([{"plate": f"SEED{i:03d}"} for i in range(400)], name="seed", retain=False)
        loaded = lambda: any((m.body or {}).get("event") == "downlink_accepted" for m in run.recorder.of("audit"))  # noqa: E731
        if not run.recorder.wait_for(loaded, 90):
            raise TimeoutError("the seed hotlist was never loaded")
        seen = len(run.recorder.of("health"))
        drained = lambda: any(((m.body or {}).get("queue") or {}).get("total") == 0  # noqa: E731
                              for m in run.recorder.of("health")[seen:])
        run.recorder.wait_for(drained, 30)   # yesterday's records all reached the agency before the stop
    finally:
        run.target.signal(signal.SIGTERM)
        run.target.wait(60)
        run.frames.with_name("frames.later").rename(run.frames)


# --- on the timeline --------------------------------------------------------------------------------

def _actions(run) -> list[tuple[float, str, object]]:
    """(seconds after daemon start, label, action) for every fault, in time order."""
    acts: list[tuple[float, str, object]] = []
    for f in run.s.faults:
        at, lasts = f.at_s, run.fault_seconds(f)
        if f.kind == "gps_unplug":
            acts += [(at, "gps unplugged", run.gps.unplug), (at + lasts, "gps plugged in", run.gps.plug)]
        elif f.kind == "nmea_garbage":
            acts.append((at, "nmea garbage", lambda s=lasts: run.gps.garbage(s)))
        elif f.kind == "camera_gone":
            acts.append((at + lasts, "camera back",
                         lambda: run.frames.with_name("frames.away").rename(run.frames)))
        elif f.kind in ("broker_down", "broker_restart_clean"):
            acts += [(at, "broker stopped", run.broker.stop), (at + lasts, "broker started", run.broker.start)]
        elif f.kind == "kill9":
            for when in sorted(run.rng.uniform(at, at + lasts) for _ in range(f.count)):
                acts.append((when, "kill -9", run.kill9))
        elif f.kind == "disk_full":
            if not f.at_start:
                acts.append((at, "disk filled", lambda: fill(run.data_dir)))
            acts.append(((0 if f.at_start else at) + lasts, "disk freed", lambda: unfill(run.data_dir)))
        elif f.kind == "clock_jump":
            offset = run.work / "faketime"
            if not f.at_start:
                acts.append((at, f"clock {f.days:+g} days", lambda d=f.days: offset.write_text(f"{d:+g}d\n")))
            acts.append(((0 if f.at_start else at) + lasts, "clock corrected", lambda: offset.write_text("+0\n")))
        elif f.kind == "downlink":
            acts.append((at, f"{f.variant} downlink", lambda v=f.variant: _downlink(run, v)))
        elif f.kind == "alert_output_fails":
            sink = run.data_dir / "alerts.jsonl"
            acts += [(at, "alert output broken", lambda: _break_sink(sink)),
                     (at + lasts, "alert output repaired", lambda: _repair_sink(sink))]
    return sorted(acts, key=lambda a: a[0])


def _downlink(run, variant: str) -> None:
    """A spoilt list naming 9FRG001, sent once the unit is online (its downlink subscription is live:
    a message the broker holds for nobody would prove nothing)."""
    if not run.recorder.wait_for(lambda: bool(run.recorder.ids.get("health")), 60):
        raise TimeoutError("the unit never came online to receive the downlink")
    run.agency.hotlist([{"plate": "9FRG001"}, *[h.model_dump() for h in run.s.hotlist]], variant=variant,
                       retain=False)


def _break_sink(path: Path) -> None:
    if path.is_file():
        path.rename(path.with_suffix(".before"))
    path.mkdir(exist_ok=True)   # the sink can no longer append: like a buzzer line shorted or unplugged


def _repair_sink(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def timeline(run) -> None:
    for at, label, action in _actions(run):
        delay = at - run.elapsed()
        if delay > 0:
            time.sleep(delay)
        run.notes.append(f"{run.elapsed():6.1f}s {label}")
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - a fault that could not be injected fails the scenario
            run.timeline_errors.append(f"fault '{label}' could not be injected: {type(exc).__name__}: {exc}")


def have_root() -> bool:
    return os.geteuid() == 0
