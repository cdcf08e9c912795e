"""Signed config changes: the pure start-up decision, and the real daemon starting on one."""

import json
from datetime import datetime, timezone

import pytest

from firmware.app import Seams, Unit
from firmware.clock import ManualClock
from firmware.config import UnitConfig
from firmware.config_changes import Change, decide
from firmware.storage.db import DB_NAME, connect, open_database

FILE = UnitConfig.model_validate({"hotlist": {"max_age_hours": 24}})
NOW = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)


def ch(seq, hours, status="pending"):
    return Change(seq, {"hotlist": {"max_age_hours": hours}}, status)


def test_no_change_means_the_file():
    d = decide(FILE, [])
    assert d.config == FILE and d.seq is None and not d.newly_applied and d.refused is None


@pytest.mark.parametrize("statuses, expect_seq, newly, supersede", [
    (("pending",), 1, True, ()),
    (("applied",), 1, False, ()),
    (("applied", "pending"), 2, True, (1,)),
    (("applied", "applied"), 2, False, (1,)),          # a start cut off between the two updates
    (("pending", "superseded"), 1, True, ()),
    (("superseded", "refused"), None, False, ()),
    (("superseded", "superseded", "applied"), 3, False, ()),
])
def test_the_newest_live_change_wins_and_replaces_the_older(statuses, expect_seq, newly, supersede):
    changes = [ch(i + 1, 10 + i, s) for i, s in enumerate(statuses)]
    d = decide(FILE, changes)
    assert d.seq == expect_seq and d.newly_applied == newly and d.supersede == supersede
    expected_hours = 24 if expect_seq is None else 10 + expect_seq - 1
    assert d.config.hotlist.max_age_hours == expected_hours
    assert d.config.unit == FILE.unit  # nothing else moved


def test_an_overlay_replaces_rather_than_adds_to_the_one_before():
    first = Change(1, {"hotlist": {"max_age_hours": 12}}, "applied")
    second = Change(2, {"retention": {"local_retention_days": 30}}, "pending")
    d = decide(FILE, [first, second])
    assert d.config.hotlist.max_age_hours == 24 and d.config.retention.local_retention_days == 30


def test_a_change_the_file_no_longer_accepts_is_refused_and_the_file_used():
    bad = Change(4, {"hotlist": {"max_age_hours": -3}}, "pending")
    d = decide(FILE, [ch(3, 12, "applied"), bad])
    assert d.config == FILE and d.seq is None and d.refused[0] == 4 and "max_age_hours" in d.refused[1]
    assert d.supersede == (3,)


def stored_change(data, seq, overlay):
    """A unit database holding one pending change, as the downlink inbox leaves it."""
    conn = open_database(data)
    conn.execute("INSERT INTO config_changes (seq, received_at, issued_at, overlay) VALUES (?, ?, ?, ?)",
                 (seq, "2026-05-01T11:00:00Z", "2026-05-01T10:59:00Z", json.dumps(overlay)))
    conn.commit()
    conn.close()


def test_the_daemon_starts_on_a_stored_change_and_records_it_once(tmp_path):
    data = tmp_path / "data"
    stored_change(data, 7, {"hotlist": {"max_age_hours": 6}})
    config = UnitConfig.model_validate({"unit": {"id": "u1", "data_dir": str(data), "min_free_mb": 1},
                                        "cameras": [], "gps": {"source": "none"}})

    def start_once(newer=None):
        unit = Unit(config, Seams(clock=ManualClock(NOW)))
        unit.start()
        try:
            if newer:  # what the downlink inbox does while the unit runs
                unit.writer.call(lambda c: c.execute(
                    "INSERT INTO config_changes (seq, received_at, issued_at, overlay) VALUES (?, 'x', 'x', ?)",
                    (newer, json.dumps({"hotlist": {"max_age_hours": 3}}))))
            return unit.config, unit.hotlists.config.max_age_hours, unit.health()["config"]
        finally:
            unit.stop()

    effective, service_hours, health = start_once()
    assert effective.hotlist.max_age_hours == 6 and service_hours == 6
    assert health == {"change_in_force": 7, "change_awaiting_restart": None}
    _, _, health = start_once(newer=8)
    assert health == {"change_in_force": 7, "change_awaiting_restart": 8}  # the technician sees it waits
    ro = connect(data / DB_NAME, readonly=True)
    assert ro.execute("SELECT status FROM config_changes WHERE seq = 7").fetchone()[0] == "applied"
    applied = [json.loads(r[0]) for r in ro.execute("SELECT detail FROM audit_log WHERE event = 'config_applied'")]
    assert [a["seq"] for a in applied] == [7]  # once, not at every start
    effective, _, health = start_once()
    assert effective.hotlist.max_age_hours == 3 and health["change_in_force"] == 8


def test_config_show_prints_what_the_next_start_uses(tmp_path):
    import subprocess

    from conftest import alpr_unit_cmd

    data = tmp_path / "data"
    stored_change(data, 2, {"hotlist": {"max_age_hours": 5}})
    cfg = tmp_path / "unit.toml"
    cfg.write_text(f'[unit]\nid = "u1"\ndata_dir = "{data}"\n\n[hotlist]\nmax_age_hours = 20\n')
    out = subprocess.run(alpr_unit_cmd() + ["config", "show", "--config", str(cfg)], capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out)["hotlist"]["max_age_hours"] == 5
    # show only reads: the change is still pending for the daemon to apply and audit
    ro = connect(data / DB_NAME, readonly=True)
    assert ro.execute("SELECT status FROM config_changes").fetchone()[0] == "pending"
