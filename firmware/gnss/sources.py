"""Where epochs come from: a serial receiver, a replayed file, or gpsd. Thin adapters.

Each source runs inside the service's worker thread, calls `emit(fix)` for every epoch and
`link(up, why)` when the receiver appears or disappears, and returns when `stop_event` is set.
USB receivers vanish and come back under the same name, so the serial source never gives up: it
reopens with exponential backoff and re-probes the baud rate when it was not configured.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections import Counter
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable

from firmware.clock import Clock
from firmware.gnss.epoch import DAY_US, EpochAssembler, Fix, parse_bytes
from firmware.gnss.nmea import Framer, decode

log = logging.getLogger(__name__)
BAUDS = (9600, 4800, 38400, 115200)
Emit = Callable[[Fix], None]
Link = Callable[[bool, str], None]


# --- file replay ------------------------------------------------------------------------------

def replay_schedule(fixes: list[Fix], max_gap_s: float = 10.0) -> list[float]:
    """Seconds from the start at which each epoch is due, from the receiver's own time of day.

    Logging gaps are shortened to `max_gap_s` and time going backwards (a new session in the
    same file) counts as one second, so a replay never stalls for hours or runs backwards.
    """
    out, t, prev = [], 0.0, None
    for fix in fixes:
        if prev is not None and fix.tod_us is not None and prev.tod_us is not None:
            step = (fix.tod_us - prev.tod_us) / 1e6
            if step < -DAY_US / 2e6:
                step += DAY_US / 1e6  # across UTC midnight
            if step <= 0:
                step = 1.0
            t += min(step, max_gap_s)
        out.append(t)
        prev = fix
    return out


def run_file(path: Path, speed: float, loop: bool, clock: Clock, stop_event: threading.Event,
             emit: Emit, link: Link, counters: Counter) -> None:
    try:
        fixes = parse_bytes(Path(path).read_bytes(), counters=counters)
    except OSError as exc:
        link(False, f"cannot read replay file: {exc.strerror}")
        return
    if not fixes:
        link(False, "replay file holds no epochs")
        return
    schedule = replay_schedule(fixes)
    period = (schedule[-1] - schedule[0]) + 1.0
    link(True, "replay started")
    while not stop_event.is_set():
        base = clock.monotonic_ns()
        for due_s, fix in zip(schedule, fixes):
            due_ns = base + int(due_s / speed * 1e9)
            while not stop_event.is_set():
                left = (due_ns - clock.monotonic_ns()) / 1e9
                if left <= 0:
                    break
                stop_event.wait(min(left, 0.05))
            if stop_event.is_set():
                return
            emit(replace(fix, mono_ns=clock.monotonic_ns()))
        if not loop:
            link(False, "replay finished")
            return
        # the gap between the last and the first epoch of the next loop is one epoch
        end_ns = base + int(period / speed * 1e9)
        while not stop_event.is_set() and clock.monotonic_ns() < end_ns:
            stop_event.wait(min(0.05, max(0.0, (end_ns - clock.monotonic_ns()) / 1e9)))
        counters["replay_loops"] += 1


# --- serial ------------------------------------------------------------------------------------

class NmeaStream:
    """Bytes to epochs for a live stream: framing, decoding, early-closing epoch assembly."""

    def __init__(self, counters: Counter, min_date: date, max_date: date):
        self.framer = Framer(counters)
        self.counters = counters
        self.asm = EpochAssembler(min_date, max_date, counters, early_close=True)

    def feed(self, chunk: bytes, mono_ns: int) -> list[Fix]:
        out: list[Fix] = []
        for sentence in self.framer.feed(chunk):
            obs = decode(sentence, self.counters)
            if obs is not None:
                out.extend(self.asm.feed(obs, mono_ns))
        return out

    def flush(self) -> list[Fix]:
        return self.asm.flush()


def probe_baud(port: str, bauds: tuple[int, ...], probe_s: float, stop_event: threading.Event,
               opener=None) -> int | None:
    """The first baud rate at which `port` yields two checksummed sentences within `probe_s`."""
    import serial  # pyserial: imported here so source=file units need no serial stack

    opener = opener or (lambda p, b: serial.Serial(p, b, timeout=0.2))
    for baud in bauds:
        if stop_event.is_set():
            return None
        counters: Counter = Counter()
        framer = Framer(counters)
        try:
            with opener(port, baud) as ser:
                waited = 0.0
                while waited < probe_s and not stop_event.is_set():
                    framer.feed(ser.read(512))
                    waited += 0.2
                    if counters["sentences"] >= 2:
                        return baud
        except (OSError, serial.SerialException):
            return None
    return None


def run_serial(port: str, baud: int | str, stream_factory: Callable[[], NmeaStream], clock: Clock,
               stop_event: threading.Event, emit: Emit, link: Link, counters: Counter,
               backoff_max_s: float = 30.0, silence_s: float = 5.0, state: dict | None = None) -> None:
    import serial

    state = state if state is not None else {}
    backoff = 0.5
    last_baud: int | None = None
    while not stop_event.is_set():
        if baud == "auto":
            order = tuple(b for b in ((last_baud,) if last_baud else ()) + BAUDS)
            order = tuple(dict.fromkeys(order))
            chosen = probe_baud(port, order, 2.5, stop_event)
        else:
            chosen = int(baud)
        ser = None
        if chosen is not None:
            try:
                ser = serial.Serial(port, chosen, timeout=0.2, exclusive=True)
            except (OSError, serial.SerialException) as exc:
                counters["open_failures"] += 1
                link(False, f"cannot open {port}: {exc}")
        else:
            counters["open_failures"] += 1
            link(False, f"no NMEA on {port} at any baud rate")
        if ser is None:
            stop_event.wait(backoff)
            backoff = min(backoff * 2, backoff_max_s)
            continue
        last_baud = chosen
        state["baud"] = chosen
        stream = stream_factory()
        last_data = clock.monotonic_ns()
        counters["opens"] += 1
        silent = False
        try:
            with ser:
                while not stop_event.is_set():
                    chunk = ser.read(4096)
                    now = clock.monotonic_ns()
                    if chunk:
                        before = counters["sentences"]
                        for fix in stream.feed(chunk, now):
                            emit(fix)
                        if counters["sentences"] > before:
                            last_data = now
                            backoff = 0.5
                            if silent or not state.get("up"):
                                silent = False
                                link(True, f"receiver on {port} at {chosen} baud")
                    if (now - last_data) / 1e9 > silence_s:
                        if not silent:
                            silent = True
                            link(False, f"no valid NMEA from {port} for {silence_s:g} s")
                        if baud == "auto":
                            break  # maybe the receiver changed speed: probe again
        except (OSError, serial.SerialException) as exc:
            counters["disconnects"] += 1
            link(False, f"lost {port}: {exc}")
        for fix in stream.flush():
            emit(fix)
        stop_event.wait(backoff)
        backoff = min(backoff * 2, backoff_max_s)


# --- gpsd --------------------------------------------------------------------------------------

def fix_from_tpv(tpv: dict, mono_ns: int, sky: dict) -> Fix:
    """gpsd's TPV (plus the last SKY's dops and counts) as a Fix."""
    mode = int(tpv.get("mode") or 1)
    when = None
    if isinstance(tpv.get("time"), str):
        try:
            when = datetime.fromisoformat(tpv["time"].replace("Z", "+00:00")).astimezone(timezone.utc)
        except ValueError:
            when = None
    lat, lon = tpv.get("lat"), tpv.get("lon")
    if mode < 2 or lat is None or lon is None:
        return Fix(mono_ns, when, 1, hdop=sky.get("hdop"), sats=sky.get("uSat"))
    tod = None
    if when is not None:
        tod = ((when.hour * 60 + when.minute) * 60 + when.second) * 1_000_000 + when.microsecond
    status = int(tpv.get("status") or 1)
    quality = {2: 2, 3: 4, 4: 5, 5: 6}.get(status, 1)
    alt = tpv.get("altMSL", tpv.get("alt")) if mode == 3 else None
    return Fix(mono_ns, when, mode, float(lat), float(lon), alt, tpv.get("speed"), tpv.get("track"),
               sky.get("hdop"), sky.get("uSat"), quality, tod)


def run_gpsd(host: str, port: int, clock: Clock, stop_event: threading.Event, emit: Emit, link: Link,
             counters: Counter, backoff_max_s: float = 30.0) -> None:
    backoff = 0.5
    while not stop_event.is_set():
        try:
            with socket.create_connection((host, port), timeout=2.0) as sock:
                sock.settimeout(0.5)
                sock.sendall(b'?WATCH={"enable":true,"json":true};\n')
                counters["opens"] += 1
                buf, sky, up = b"", {}, False
                while not stop_event.is_set():
                    try:
                        chunk = sock.recv(65536)
                    except socket.timeout:
                        continue
                    if not chunk:
                        raise ConnectionError("gpsd closed the connection")
                    buf += chunk
                    *lines, buf = buf.split(b"\n")
                    for line in lines:
                        try:
                            msg = json.loads(line)
                        except ValueError:
                            counters["gpsd_bad_json"] += 1
                            continue
                        cls = msg.get("class") if isinstance(msg, dict) else None
                        if cls == "SKY":
                            sky.update({k: msg[k] for k in ("hdop", "uSat") if k in msg})
                        elif cls == "TPV":
                            counters["gpsd_tpv"] += 1
                            if not up:
                                up = True
                                backoff = 0.5
                                link(True, f"gpsd at {host}:{port}")
                            emit(fix_from_tpv(msg, clock.monotonic_ns(), sky))
        except (OSError, ConnectionError) as exc:
            counters["disconnects"] += 1
            link(False, f"gpsd at {host}:{port}: {exc}")
        stop_event.wait(backoff)
        backoff = min(backoff * 2, backoff_max_s)
