"""When maintenance work was done (`maintenance add --at`): never after the moment it is recorded (an hour
of slack for a watch and the unit's clock), never before 2000 (a mistyped year); the refusal says what to
do when the unit's clock is the wrong one. Pure rule, the domain function, and the CLI (exit 2)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from firmware.cli import main
from firmware.retention.maintenance import AHEAD_SLACK, EARLIEST, MaintenanceError, add_maintenance, \
    work_time_problem
from firmware.storage.db import open_database, transaction
from rosters import install_roster

NOW = datetime(2026, 12, 1, 7, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize("at, words", [
    (NOW, None),
    (NOW - timedelta(days=400), None),                       # a repair backfilled from last year
    (EARLIEST, None),
    (NOW + AHEAD_SLACK, None),                               # a watch an hour ahead of the unit
    (NOW + AHEAD_SLACK + timedelta(seconds=1), "is after now"),
    (NOW + timedelta(days=3650), "leave --at out"),
    (EARLIEST - timedelta(seconds=1), "before 2000"),
    (datetime(1026, 12, 1, tzinfo=timezone.utc), "mistyped year"),
])
def test_the_rule(at, words):
    problem = work_time_problem(at, NOW)
    assert (problem is None) if words is None else (words in problem)


def test_a_refused_time_writes_nothing(tmp_path):
    conn = open_database(tmp_path)
    with pytest.raises(MaintenanceError, match="is after now"):
        transaction(conn, lambda c: add_maintenance(c, kind="repair", technician="tech", description="new lens",
                                                    at=NOW + timedelta(days=1), recorded_at=NOW, unit_id="u"))
    assert conn.execute("SELECT count(*) FROM maintenance_log").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM audit_log WHERE event = 'maintenance'").fetchone()[0] == 0
    conn.close()


def test_the_cli_refuses_a_future_time_with_exit_2_and_takes_a_past_one(tmp_path, capsys):
    conn = open_database(tmp_path)
    install_roster(conn, [{"id": "tech", "name": "T", "roles": ["technician"]}])
    conn.close()
    base = ["maintenance", "add", "--data-dir", str(tmp_path), "--user", "tech", "--kind", "repair",
            "--description", "replaced the rear camera"]
    future = (datetime.now(timezone.utc) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert main([*base, "--at", future]) == 2
    assert "is after now" in capsys.readouterr().err
    assert main([*base, "--at", "2026-01-15"]) == 0
    rows = sqlite3.connect(tmp_path / "alpr.db").execute("SELECT at, kind FROM maintenance_log").fetchall()
    assert rows == [("2026-01-15T00:00:00.000000Z", "repair")]
