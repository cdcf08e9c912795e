"""Hotlist benchmark: import, resident memory and per-read match time for a synthetic list of N entries.

Builds its own list (random 5-8 character plates, states and NCIC-like categories), imports it into a
throw-away data dir with `import_hotlist`, loads it with `HotlistService`, then matches reads of which
a share are entries with one OCR look-alike swapped (equivalence on, as configured by default).
rss_mb is the growth of this process's resident set from before the import to after the load;
import_cpu_s is the import's CPU time (what wall time would be on an idle machine: the load is
single-threaded); restart_load_s is a second service start, served by the index cache.
"""

from __future__ import annotations

import gc
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from firmware.cli import number
from firmware.clock import ManualClock
from firmware.hotlist.config import HotlistConfig
from firmware.hotlist.service import HotlistService, _trim_heap
from firmware.hotlist.staged import import_hotlist_staged
from firmware.hotlist.store import import_hotlist
from firmware.storage.db import open_database, transaction

_ALNUM = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", dtype="S1")
_STATES = ["CA", "TX", "FL", "NY", "PA", "IL", "OH", "GA", "NC", "MI", "NJ", "VA", "WA", "AZ", "MA", "TN"]
_CATEGORIES = ["stolen vehicle", "felony vehicle", "stolen plate", "wanted person", "missing person"]
_SWAP = {"0": "O", "O": "0", "1": "I", "I": "1", "8": "B", "B": "8", "5": "S", "S": "5", "2": "Z", "Z": "2"}


def add_arguments(parser) -> None:
    parser.add_argument("--entries", type=number(1, 10 ** 8), default=100_000, help="synthetic list size")
    parser.add_argument("--reads", type=number(1, 10 ** 8), default=20_000, help="reads to match")
    parser.add_argument("--hit-share", type=number(0.0, 1.0, float), default=0.01,
                        help="share of reads that are (misread) entries")
    parser.add_argument("--seed", type=number(0, 2 ** 63 - 1), default=1)
    parser.add_argument("--max-equivalent", type=number(0, 2), default=1, help="OCR-equivalent chars")
    parser.add_argument("--length-difference", action="store_true", help="also match reads one char longer/shorter")
    parser.add_argument("--staged", action="store_true",
                        help="import with import_hotlist_staged (short transactions) and report the longest one")
    parser.add_argument("--keep", type=Path, default=None, help="build the data dir here and keep it")


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def synthetic_plates(n: int, rng: np.random.Generator) -> list[str]:
    lengths = rng.integers(5, 9, size=n)
    chars = rng.choice(_ALNUM, size=(n, 8)).view("S8").ravel()
    return [c[:k].decode() for c, k in zip(chars, lengths)]


def write_list(path: Path, n: int, rng: np.random.Generator) -> list[str]:
    """`plate;state;category` lines, written in blocks; returns a sample of the plates for reads."""
    sample: list[str] = []
    with open(path, "w", encoding="ascii") as fh:
        done = 0
        while done < n:
            k = min(200_000, n - done)
            plates = synthetic_plates(k, rng)
            states = rng.integers(0, len(_STATES), size=k)
            cats = rng.integers(0, len(_CATEGORIES), size=k)
            fh.write("".join(f"{p};{_STATES[s]};{_CATEGORIES[c]}\n" for p, s, c in zip(plates, states, cats)))
            sample.extend(plates[:2000])
            done += k
    return sample


def make_reads(sample: list[str], count: int, share: float, rng: np.random.Generator) -> list[str]:
    reads = synthetic_plates(count, rng)
    for i in np.nonzero(rng.random(count) < share)[0]:
        plate = sample[int(rng.integers(0, len(sample)))]
        swaps = [j for j, ch in enumerate(plate) if ch in _SWAP]
        if swaps and rng.random() < 0.5:
            j = swaps[int(rng.integers(0, len(swaps)))]
            plate = plate[:j] + _SWAP[plate[j]] + plate[j + 1:]
        reads[i] = plate
    return reads


def run(args) -> dict:
    rng = np.random.default_rng(args.seed)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="hotlist-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        list_file = work / "list.txt"
        sample = write_list(list_file, args.entries, rng)
        reads = make_reads(sample, args.reads, args.hit_share, rng)
        conn = open_database(work / "data")
        at = datetime.now(timezone.utc)
        gc.collect()
        _trim_heap()                        # the baseline must not count the list generator's freed memory
        rss0 = rss_mb()
        t0, c0 = time.perf_counter(), time.process_time()
        fmt = "delimited delim=; cols=plate,state,category"
        longest = [0.0]

        def run_job(job):
            t = time.perf_counter()
            try:
                return transaction(conn, job)
            finally:
                longest[0] = max(longest[0], time.perf_counter() - t)

        if getattr(args, "staged", False):
            report = import_hotlist_staged(run_job, list_file, name="bench", fmt=fmt, list_source="ncic", at=at,
                                           unit_id="bench")
        else:
            report = run_job(lambda c: import_hotlist(c, list_file, name="bench", fmt=fmt, list_source="ncic",
                                                      at=at, unit_id="bench"))
        import_s, import_cpu_s = time.perf_counter() - t0, time.process_time() - c0
        conn.close()
        config = HotlistConfig(max_equivalent_chars=getattr(args, "max_equivalent", 1),
                               length_difference=getattr(args, "length_difference", False))
        service = HotlistService(config, work / "data", ManualClock(at), "bench")
        t0, c0 = time.perf_counter(), time.process_time()
        service.start()
        load_s, load_cpu_s = time.perf_counter() - t0, time.process_time() - c0
        gc.collect()
        _trim_heap()
        rss1 = rss_mb()
        times = np.empty(len(reads))
        hits = 0
        match = service.match
        clock = time.perf_counter_ns
        for i, read in enumerate(reads):
            t = clock()
            found = match(read, None, annotations=False)
            times[i] = clock() - t
            hits += bool(found)
        status = service.status()
        service.stop()
        del service
        gc.collect()
        again = HotlistService(config, work / "data", ManualClock(at), "bench")
        t0 = time.perf_counter()
        again.start()                       # a restart: the index comes from the cache
        restart_s = time.perf_counter() - t0
        assert again.match(reads[0], None, annotations=False) == match(reads[0], None, annotations=False)
        again.stop()
        return {
            "entries": report.entries, "import_s": round(import_s, 2), "rss_mb": round(rss1 - rss0, 1),
            "match_us_p50": round(float(np.percentile(times, 50)) / 1e3, 2),
            "match_us_p99": round(float(np.percentile(times, 99)) / 1e3, 2),
            "reads": len(reads), "hits": hits, "import_cpu_s": round(import_cpu_s, 2), "load_s": round(load_s, 2),
            "load_cpu_s": round(load_cpu_s, 2),
            "restart_load_s": round(restart_s, 2), "longest_transaction_s": round(longest[0], 3),
            "index_mb": status["lists"][0]["index_mb"] if status["lists"] else 0.0,
            "bad_rows": report.bad, "junk_rows": report.junk,
            "max_equivalent_chars": config.max_equivalent_chars, "length_difference": config.length_difference,
        }
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
