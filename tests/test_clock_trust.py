"""The trusted time base for deletion (issue 18 item 1): the pure rule, exhaustively, then the
daemon's ClockWatch and the real retention service driven through the clock seam."""

import itertools
import json
import threading
from datetime import datetime, timedelta, timezone

import pytest

from firmware.clock import ManualClock, iso_utc
from firmware.retention.bench import store_read
from firmware.retention.clock_trust import BASIS_CONSISTENT, BASIS_GPS, ClockFacts, judge_clock
from firmware.retention.clock_watch import ClockWatch, standalone_verdict
from firmware.retention.config import RetentionConfig
from firmware.retention.purge import Purger
from firmware.retention.service import RetentionService
from firmware.storage import runs
from firmware.storage.db import Writer, open_database, transaction

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
TOL = 3600.0
DAY = 86400.0
OFFSETS = [None, 0.0, TOL / 2, -TOL / 2, TOL * 2, -TOL * 2, 100 * DAY, -120 * DAY]
AHEAD = [None, -30 * DAY, 0.0, TOL / 2, TOL * 2, 100 * DAY]


def _at(ahead):
    return None if ahead is None else NOW + timedelta(seconds=ahead)


@pytest.mark.parametrize("gps", OFFSETS)
def test_every_combination_of_facts(gps):
    """Exhaustive over the grid: trusted exactly when GPS agrees, or, without GPS, when nothing contradicts."""
    for step, newest, purge in itertools.product(OFFSETS, AHEAD, AHEAD):
        facts = ClockFacts(now=NOW, tolerance_s=TOL, gps_offset_s=gps, step_s=step,
                           newest_read_at=_at(newest), last_purge_at=_at(purge))
        verdict = judge_clock(facts)
        contradicted = [(step is not None and abs(step) > TOL), (newest is not None and newest > TOL),
                        (purge is not None and purge > TOL)]
        if gps is not None:
            assert verdict.trusted == (abs(gps) <= TOL), facts
            assert verdict.basis == (BASIS_GPS if verdict.trusted else "suspect")
            assert len(verdict.notes) == sum(contradicted)   # overruled, still shown
            if not verdict.trusted:
                assert "GPS time" in verdict.reasons[0]
                assert ("ahead of" in verdict.reasons[0]) == (gps < 0)
        else:
            assert verdict.trusted == (not any(contradicted)), facts
            assert len(verdict.reasons) == sum(contradicted)
            assert verdict.basis == (BASIS_CONSISTENT if verdict.trusted else "suspect")
        assert verdict.trusted == (not verdict.reasons)
        assert json.loads(json.dumps(verdict.as_dict()))["trusted"] == verdict.trusted


def test_reasons_name_the_direction_and_size():
    v = judge_clock(ClockFacts(now=NOW, tolerance_s=TOL, step_s=100 * DAY))
    assert v.reasons == ("wall clock stepped forward 100.0 days against monotonic time",)
    v = judge_clock(ClockFacts(now=NOW, tolerance_s=TOL, step_s=-2 * TOL))
    assert v.reasons == ("wall clock stepped back 2.0 h against monotonic time",)
    v = judge_clock(ClockFacts(now=NOW, tolerance_s=TOL, gps_offset_s=-100 * DAY))
    assert v.reasons == ("wall clock is 100.0 days ahead of GPS time",)
    v = judge_clock(ClockFacts(now=NOW, tolerance_s=TOL, reported=("the running daemon reports: x",)))
    assert not v.trusted and v.reasons == ("the running daemon reports: x",)


# -- the watch and the real retention service, through the clock seam ------------------------------

@pytest.fixture
def db(tmp_path):
    conn = open_database(tmp_path)
    writer = Writer(conn).start()
    yield conn, writer, tmp_path
    writer.stop()
    conn.close()


def add_reads(writer, data, captured: datetime, n: int, acked: bool = False) -> list[str]:
    return [writer.call(lambda c, i=i: store_read(c, data, f"CLK{i:04d}", captured,
                                                   acked_at=captured if acked else None, images=False))
            for i in range(n)]


def read_ids(conn) -> set:
    return {r[0] for r in conn.execute("SELECT id FROM reads")}


def events(conn, source="clock") -> list[dict]:
    return [{"kind": k, **json.loads(d)} for k, d in
            conn.execute("SELECT kind, detail FROM events WHERE source = ? ORDER BY rowid", (source,))]


def service(writer, data, clock, gps=None, run=None, recorded=None, **cfg):
    config = RetentionConfig(purge_interval_s=3600, purge_pause_ratio=0, **cfg)
    on_event = (lambda kind, source, detail: recorded.append((kind, source, detail))) if recorded is not None else None
    return RetentionService(config, data, writer, "unit-0001", clock, gps_offset=gps, run=run, on_event=on_event)


def test_a_100_day_jump_forward_deletes_nothing_and_says_why(db):
    conn, writer, data = db
    clock = ManualClock(NOW)
    recorded = []
    svc = service(writer, data, clock, recorded=recorded)
    assert svc.clock_verdict().trusted
    unsynced = add_reads(writer, data, NOW - timedelta(days=1), 5)     # stored in this boot, before the jump
    synced = add_reads(writer, data, NOW - timedelta(days=2), 5, acked=True)
    assert svc.clock_verdict().trusted
    clock.step_wall(100 * DAY)
    report = svc.purge_now()
    assert report["refused"] == "clock_suspect" and report["reads"]["purged"] == 0
    assert report["clock"]["reasons"] == ["wall clock stepped forward 100.0 days against monotonic time"]
    assert read_ids(conn) == set(unsynced + synced)
    stored = events(conn)
    assert stored[-1]["kind"] == "malfunction" and stored[-1]["reason"] == "clock_suspect"
    assert "stepped forward" in stored[-1]["why"][0]
    assert recorded[-1][:2] == ("malfunction", "clock")                 # the watch saw the transition too
    assert conn.execute("SELECT count(*) FROM purge_runs").fetchone()[0] == 0  # its time would be the bad one
    assert conn.execute("SELECT count(*) FROM audit_log WHERE event = 'purge_refused'").fetchone()[0] == 1
    # a read taken during the jump is stamped 100 days ahead; the clock comes back
    during = add_reads(writer, data, clock.utc(), 1)
    svc.clock_verdict()
    clock.step_wall(-100 * DAY)
    clock.advance(8 * DAY)        # a week later, the clock agrees with monotonic time again
    report = svc.purge_now()
    assert report["clock"]["trusted"] and "refused" not in report
    # Without GPS nothing says which clock was right, so every read of this boot ages from the latest
    # time it may have been taken: the synced reads stay (late, never early); the jump's read too.
    assert read_ids(conn) == set(unsynced + synced + during)
    flagged = dict(conn.execute("SELECT id, captured_at_latest FROM reads WHERE clock_suspect = 1"))
    assert set(flagged) == set(unsynced + synced + during)
    for rid in synced:
        assert flagged[rid] == iso_utc(NOW - timedelta(days=2) + timedelta(days=100))
    assert report["clock_suspect_reads"] == 11
    assert recorded[-1][:2] == ("back_in_service", "clock")


def test_reads_stamped_120_days_behind_are_retimed_not_purged(db):
    """The clock ran 120 days slow from boot; it is corrected while running; GPS confirms the new time."""
    conn, writer, data = db
    real = NOW
    clock = ManualClock(real - timedelta(days=120))
    gps = {"offset": None}
    svc = service(writer, data, clock, gps=lambda: gps["offset"])
    svc.clock_verdict()
    slow = add_reads(writer, data, clock.utc(), 4)          # stamped 120 days before they were taken
    svc.clock_verdict()
    clock.step_wall(120 * DAY)                                # chrony or a technician corrects it
    report = svc.purge_now()
    assert report["refused"] == "clock_suspect"               # a step with nothing to say which clock is right
    gps["offset"] = 0.5                                       # GPS time now agrees with the corrected clock
    report = svc.purge_now()
    assert report["clock"]["basis"] == "gps" and "refused" not in report
    assert set(slow) <= read_ids(conn), "a read stamped by the slow clock was purged as 120 days old"
    assert report["lost_unsynced"] == 0
    rows = conn.execute("SELECT captured_at, captured_at_latest FROM reads WHERE clock_suspect = 1").fetchall()
    assert len(rows) == 4
    for captured, latest in rows:    # re-timed: the latest it can have been taken is its true time
        assert latest >= iso_utc(real - timedelta(seconds=TOL))
    # 91 days on the confirmed clock later they go, as reads of their true age
    clock.advance(91 * DAY)
    gps["offset"] = 0.0
    report = svc.purge_now()
    assert not set(slow) & read_ids(conn) and report["lost_unsynced"] == 4


def test_gps_time_disagreeing_refuses_even_when_the_records_agree(db):
    conn, writer, data = db
    clock = ManualClock(NOW)
    add_reads(writer, data, NOW - timedelta(days=95), 3)
    svc = service(writer, data, clock, gps=lambda: -100 * DAY)      # the wall clock is 100 days fast
    report = svc.purge_now()
    assert report["refused"] == "clock_suspect" and len(read_ids(conn)) == 3
    assert report["clock"]["reasons"] == ["wall clock is 100.0 days ahead of GPS time"]


def test_a_step_between_two_runs_of_one_boot_is_seen_by_the_next_run_and_the_cli(db):
    conn, writer, data = db
    clock = ManualClock(NOW)
    first = writer.call(lambda c: runs.begin_run(c, now=clock.utc(), mono_ns=clock.monotonic_ns(),
                                                 boot_id=clock.boot_id(), version="t"))
    ClockWatch(clock, writer.call, TOL, run=first).check()
    before = add_reads(writer, data, NOW - timedelta(days=80), 2)
    writer.call(lambda c: runs.end_run(c, first.id, now=clock.utc(), mono_ns=clock.monotonic_ns(), pending={}))
    clock.step_wall(30 * DAY)                                  # while the daemon was down
    second = writer.call(lambda c: runs.begin_run(c, now=clock.utc(), mono_ns=clock.monotonic_ns(),
                                                  boot_id=clock.boot_id(), version="t"))
    assert second.inherited_base_offset_s is not None and not second.unclean
    verdict = ClockWatch(clock, writer.call, TOL, run=second).check()
    assert not verdict.trusted and "stepped forward 30.0 days" in verdict.reasons[0]
    cli = writer.call(lambda c: standalone_verdict(c, clock, TOL))
    assert not cli.trusted
    purger = Purger(RetentionConfig(), data, "unit-0001", clock, run_job=writer.call)
    assert purger.run()["refused"] == "clock_suspect" and set(before) <= read_ids(conn)
    # a different boot cannot compare monotonic time: the records alone decide (and agree here)
    other = ManualClock(clock.utc())
    assert writer.call(lambda c: standalone_verdict(c, other, TOL)).trusted


def test_the_scheduled_loop_checks_between_purges_and_stops(db):
    conn, writer, data = db
    clock = ManualClock(NOW)
    recorded = []
    svc = service(writer, data, clock, recorded=recorded, clock_check_s=0.5)
    svc.start()
    clock.step_wall(100 * DAY)
    done = threading.Event()
    for _ in range(100):
        if recorded:
            break
        done.wait(0.1)
    svc.stop()
    assert recorded and recorded[0][:2] == ("malfunction", "clock") and svc.runs == 0


def test_alpr_unit_purge_refuses_on_a_clock_behind_its_records_exit_1(tmp_path):
    """The technician's command: exit 1, nothing deleted, why on stderr and in --json."""
    import subprocess
    import sys
    from datetime import timezone as tz

    from rosters import install_roster

    now = datetime.now(tz.utc)
    conn = open_database(tmp_path)
    old = transaction(conn, lambda c: store_read(c, tmp_path, "OLD0001", now - timedelta(days=95), images=False))
    transaction(conn, lambda c: store_read(c, tmp_path, "FUT0001", now + timedelta(days=40), images=False))
    install_roster(conn)
    conn.close()
    out = subprocess.run([sys.executable, "-m", "firmware", "purge", "--data-dir", str(tmp_path), "--json",
                          "--user", "tech.tim"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout.splitlines()[0])
    assert report["refused"] == "clock_suspect" and report["reads"]["purged"] == 0
    assert "40.0 days ahead of the clock" in report["clock"]["reasons"][0]
    assert "purge refused, nothing deleted" in out.stderr and "Traceback" not in out.stderr
    conn = open_database(tmp_path)
    assert conn.execute("SELECT count(*) FROM reads WHERE id = ?", (old,)).fetchone()[0] == 1
    (detail,) = conn.execute("SELECT detail FROM events WHERE source = 'clock'").fetchone()
    assert json.loads(detail)["reason"] == "clock_suspect"
    conn.close()
