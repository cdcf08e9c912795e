"""`alpr-hil soak`: the whole unit running for a long while on a looping drive, watched from outside.

Every few seconds it samples the daemon's resident memory, open files and threads (/proc of the
process), its database and WAL size, and from the health reports it publishes: frames/s, the camera
queue, the sync outbox depth and the sync lag (age of the oldest record still waiting). It writes
samples.csv and one PNG per metric, and fails when memory, open files or threads grow faster than
the stated slope (least squares over the second half of the run, so start-up and model warm-up do
not count as growth).
"""

from __future__ import annotations

import csv
import signal
import time
from datetime import datetime, timezone
from pathlib import Path

from firmware.clock import parse_iso_utc
from hil.scenario import Expect, HotlistRow, Scenario, VehicleSpec
from hil.target import LocalTarget

METRICS = ("rss_mb", "fds", "threads", "db_mb", "wal_mb", "fps", "camera_queue", "outbox_queued", "sync_lag_s",
           "reads")
PLATES = ("7ABC123", "KLM4821", "6TRK915", "BJR2204", "HPX7730", "4WDE562", "8GHT442", "5KRW118")


def soak_scenario(fps: float) -> Scenario:
    """Eight cars every ~2.5 s, one on the hotlist, looped by the camera for as long as the soak lasts."""
    return Scenario(
        name="soak", set="long", fps=fps, lead_in_s=2.0, tail_s=2.0,
        vehicles=[VehicleSpec(plate=p, enter_s=i * 2.5, lane=("left", "right")[i % 2]) for i, p in enumerate(PLATES)],
        hotlist=[HotlistRow(plate="5KRW118")],
        config={"cameras": [{"id": "front", "kind": "folder", "fps": fps, "loop": True, "queue_size": 64,
                             "stall_timeout_s": 5.0}],
                "logging": {"level": "WARNING"}},
        expect=Expect(delivered_exactly_once=False), max_run_s=7200)


def slope_per_hour(ts: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over ts (seconds), per hour; 0 when there is nothing to fit."""
    pairs = [(t, y) for t, y in zip(ts, ys) if y is not None]
    if len(pairs) < 3:
        return 0.0
    n = len(pairs)
    mt = sum(t for t, _ in pairs) / n
    my = sum(y for _, y in pairs) / n
    var = sum((t - mt) ** 2 for t, _ in pairs)
    if var == 0:
        return 0.0
    return sum((t - mt) * (y - my) for t, y in pairs) / var * 3600


def growth_failures(rows: list[dict], limits: dict[str, float]) -> tuple[dict[str, float], list[str]]:
    """Slopes over the second half of the run for every metric; failures for those over their limit."""
    half = rows[len(rows) // 2:]
    ts = [r["t_s"] for r in half]
    slopes = {m: round(slope_per_hour(ts, [r.get(m) for r in half]), 2) for m in METRICS}
    failures = [f"{m} grows {slopes[m]:+.2f}/h over the second half (limit {limit:+.2f}/h)"
                for m, limit in limits.items() if slopes[m] > limit]
    return slopes, failures


def _status(text: str | None, key: str) -> float | None:
    for line in (text or "").splitlines():
        if line.startswith(key + ":"):
            return float(line.split()[1])
    return None


def sample(run, t_s: float, previous: dict | None) -> dict:
    target = run.target
    status = target.proc_file("status")
    rss_kb = _status(status, "VmRSS")
    health = run.recorder.latest("health") or {}
    cameras = health.get("cameras") or []
    frames = sum(c.get("frames", 0) for c in cameras)
    queue = health.get("queue") or {}
    oldest = queue.get("oldest_queued_at")
    lag = (datetime.now(timezone.utc) - parse_iso_utc(oldest)).total_seconds() if oldest else 0.0
    fps = None   # frames between two health reports over the unit's own time between them (not the sampling's)
    at = parse_iso_utc(health["at"]).timestamp() if health.get("at") else None
    if previous and previous.get("_frames") is not None and at and previous.get("_at") and at > previous["_at"]:
        fps = round((frames - previous["_frames"]) / (at - previous["_at"]), 2)
    db = str(run.data_dir / "alpr.db")
    return {
        "t_s": round(t_s, 1), "rss_mb": round(rss_kb / 1024, 1) if rss_kb else None, "fds": target.count_fds(),
        "threads": _status(status, "Threads"), "db_mb": round(target.file_size(db) / 2**20, 2),
        "wal_mb": round(target.file_size(db + "-wal") / 2**20, 2), "fps": fps,
        "camera_queue": sum(c.get("queued", 0) for c in cameras), "outbox_queued": queue.get("total"),
        "sync_lag_s": round(max(lag, 0.0), 1), "reads": (health.get("capture") or {}).get("reads"),
        "_frames": frames, "_at": at,
    }


def write_outputs(rows: list[dict], out: Path, slopes: dict, limits: dict) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    with open(out / "samples.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["t_s", *METRICS])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k) for k in ["t_s", *METRICS]})
    written = [out / "samples.csv"]
    minutes = [r["t_s"] / 60 for r in rows]
    for metric in METRICS:
        fig, ax = plt.subplots(figsize=(7, 3))
        ax.plot(minutes, [r.get(metric) if r.get(metric) is not None else float("nan") for r in rows])
        limit = f", limit {limits[metric]:+g}/h" if metric in limits else ""
        ax.set_title(f"{metric} (slope {slopes.get(metric, 0):+g}/h over the 2nd half{limit})", fontsize=9)
        ax.set_xlabel("minutes")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / f"{metric}.png", dpi=80)
        plt.close(fig)
        written.append(out / f"{metric}.png")
    fig, axes = plt.subplots(len(METRICS) // 2, 2, figsize=(11, 12), sharex=True)
    for ax, metric in zip(axes.flat, METRICS):
        ax.plot(minutes, [r.get(metric) if r.get(metric) is not None else float("nan") for r in rows])
        ax.set_title(f"{metric}  ({slopes.get(metric, 0):+g}/h)", fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("minutes")
    fig.tight_layout()
    fig.savefig(out / "soak.png", dpi=80)
    plt.close(fig)
    written.append(out / "soak.png")
    return written


def soak(args) -> int:
    from hil.runner import Run

    limits = {"rss_mb": args.max_rss_mb_per_hour, "fds": args.max_fds_per_hour, "threads": args.max_threads_per_hour}
    scenario = soak_scenario(args.fps)
    run = Run(scenario, Path("soak"), LocalTarget(), long=True, keep=args.keep, log=print)
    rows: list[dict] = []
    failures: list[str] = []
    try:
        run._setup()
        run.gps.start()
        time.sleep(1.5)
        run.start_daemon()
        start = time.monotonic()
        end = start + args.minutes * 60
        previous = None
        while time.monotonic() < end:
            time.sleep(min(args.interval, max(0.0, end - time.monotonic())))
            if run.target.pid() is None:
                failures.append(f"the daemon exited during the soak (after {time.monotonic() - start:.0f} s)")
                break
            previous = sample(run, time.monotonic() - start, previous)
            rows.append(previous)
            print(" ".join(f"{k}={previous[k]}" for k in ["t_s", *METRICS]), flush=True)
        run.target.signal(signal.SIGTERM)
        rc = run.target.wait(60)
        if rc != 0:
            failures.append(f"daemon exit code {rc} after SIGTERM")
    finally:
        run.close(keep_work=args.keep is not None)
    slopes, grown = growth_failures(rows, limits) if rows else ({}, ["no samples taken"])
    failures += grown
    written = write_outputs(rows, args.out, slopes, limits) if rows else []
    print(f"soak: {len(rows)} samples over {args.minutes:g} min; slopes/h over the second half: {slopes}")
    if rows:
        last = rows[-1]
        print(f"soak: last sample: " + ", ".join(f"{k}={last.get(k)}" for k in METRICS))
    for path in written[:1]:
        print(f"soak: wrote {path} and {len(written) - 1} plots in {args.out}")
    for failure in failures:
        print(f"FAIL {failure}")
    return 1 if failures else 0
