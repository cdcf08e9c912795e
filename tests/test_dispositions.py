"""Hit verification: the pure rules exhaustively, then the stored, audited, synced record and the CLI."""

import itertools
import json
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from conftest import alpr_unit_cmd
from firmware.dispositions import (CHECKS, DISPOSITIONS, OUTCOMES, DispositionError, amend_problem,
                                   disposition_problem, find_hit_id, hit_detail, hit_status, mark_unacknowledged,
                                   open_hits, outcome_problem, record_check, record_disposition, record_outcome)
from firmware.records import Hit, Read
from firmware.retention.audit import verify_chain
from firmware.storage.db import open_database, transaction
from firmware.storage.reads import save_read
from rosters import install_roster

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=timezone.utc)
CONFIRMED = {"plate": "match", "state": "match", "dispatch": "confirmed"}


# --- pure rules ----------------------------------------------------------------------------------------------
ALL_CHECK_STATES = [dict(zip(CHECKS, combo)) for combo in itertools.product(
    *[(None, *spec["results"]) for spec in CHECKS.values()])]


@pytest.mark.parametrize("disposition", sorted(DISPOSITIONS))
def test_a_confirmation_needs_every_check_passed_and_a_rejection_needs_none(disposition):
    kind = DISPOSITIONS[disposition]["kind"]
    for checks in ALL_CHECK_STATES:
        checks = {k: v for k, v in checks.items() if v is not None}
        problem = disposition_problem(disposition, checks, note="plates differ in the photo")
        if kind == "confirm":
            assert (problem is None) == (checks == CONFIRMED), (checks, problem)
        else:
            assert problem is None, (checks, problem)


def test_other_needs_a_note_and_unknown_codes_are_named():
    assert "note" in disposition_problem("other", {}, None)
    assert "note" in disposition_problem("other", {}, " . ")
    assert disposition_problem("other", {}, "trailer plate, not a vehicle") is None
    assert "unknown disposition" in disposition_problem("looked fine", CONFIRMED, None)


@pytest.mark.parametrize("outcome", sorted(OUTCOMES))
def test_an_outcome_needs_dispatch_confirmation_and_a_confirmed_disposition(outcome):
    for checks, disposition in itertools.product(ALL_CHECK_STATES, [None, *DISPOSITIONS]):
        checks = {k: v for k, v in checks.items() if v is not None}
        problem = outcome_problem(outcome, checks, disposition)
        allowed = checks.get("dispatch") == "confirmed" and DISPOSITIONS.get(disposition, {}).get("kind") == "confirm"
        assert (problem is None) == allowed, (checks, disposition, problem)
    assert "unknown outcome" in outcome_problem("parking ticket", CONFIRMED, "confirmed_stop")


@pytest.mark.parametrize("user, roles, reason, ok", [
    ("ofc.ray", frozenset(), "wrong state on second look", True),       # the deciding officer
    ("ofc.kim", frozenset({"officer"}), "wrong state on second look", False),
    ("sgt.lee", frozenset({"supervisor"}), "wrong state on second look", True),
    ("adm.max", frozenset({"administrator"}), "reviewed the photo", True),
    ("ofc.ray", frozenset(), "", False),                                 # a reason is required
    ("sgt.lee", frozenset({"supervisor"}), " x ", False),
])
def test_only_the_deciding_officer_or_a_supervisor_amends_with_a_reason(user, roles, reason, ok):
    assert (amend_problem(user, roles, "ofc.ray", reason) is None) == ok


def test_hit_status_never_rejects_on_the_officers_behalf():
    after = timedelta(minutes=5)
    common = {"created_at": NOW, "unacknowledged_after": after}
    assert hit_status(disposition=None, checks=0, unacknowledged_at=None, now=NOW, **common) == "new"
    assert hit_status(disposition=None, checks=0, unacknowledged_at=None, now=NOW + after, **common) == "unacknowledged"
    assert hit_status(disposition=None, checks=1, unacknowledged_at=None, now=NOW + after, **common) == "in_verification"
    assert hit_status(disposition=None, checks=0, unacknowledged_at="x", now=NOW, **common) == "unacknowledged"
    assert hit_status(disposition="misread", checks=0, unacknowledged_at="x", now=NOW, **common) == "disposed"


# --- stored record -------------------------------------------------------------------------------------------
def _read(read_id: str, plate: str, *, alert: str = "audible", priority: int = 0, at: datetime = NOW) -> Read:
    hit = Hit("ncic", plate, "NC", "stolen vehicle", priority, "exact", alert=alert,
              annotations={"NIC": "V123456789", "reason": "stolen 2026-05-30"})
    return Read(id=read_id, unit_id="u1", camera_id="front", plate=plate, plate_raw=plate, state="NC",
                confidence=0.9, char_confidences=(0.9,) * len(plate), frames=3, box=(0, 0, 10, 5), captured_at=at,
                first_seen_at=at, clock_source="gps", frame_seq=1, capture_mono_ns=1, hits=(hit,))


def _roster(conn, *users: tuple[str, list[str]]) -> None:
    install_roster(conn, [{"id": user, "name": user, "roles": roles} for user, roles in users])


@pytest.fixture
def unit(tmp_path):
    conn = open_database(tmp_path)
    _roster(conn, ("ofc.ray", ["officer"]))
    transaction(conn, lambda c: save_read(c, _read("read-1", "ABC123"), NOW))
    hit_id = conn.execute("SELECT id FROM hits").fetchone()[0]
    return tmp_path, conn, hit_id


def _step(conn, fn, hit_id, **kw):
    return transaction(conn, lambda c: fn(c, hit_id, at=NOW, unit_id="u1", **kw))


def test_checks_confirmation_and_outcome_are_stored_audited_and_queued(unit):
    _, conn, hit_id = unit
    for check, result in CONFIRMED.items():
        _step(conn, record_check, hit_id, check=check, result=result, user="ofc.ray")
    _step(conn, record_disposition, hit_id, disposition="confirmed_stop", user="ofc.ray")
    _step(conn, record_outcome, hit_id, outcome="recovery", user="ofc.ray", note="owner notified")
    view = hit_detail(conn, hit_id, now=NOW)
    assert view["checks_latest"] == CONFIRMED and view["status"] == "disposed"
    assert [d["disposition"] for d in view["dispositions"]] == ["confirmed_stop"]
    assert [o["outcome"] for o in view["outcomes"]] == ["recovery"]
    assert view["annotations"]["NIC"] == "V123456789"
    events = [r[0] for r in conn.execute("SELECT event FROM audit_log ORDER BY seq")]
    assert events == ["hit_check"] * 3 + ["hit_disposition", "hit_outcome"]
    queued = [json.loads(r[0]) for r in conn.execute("SELECT payload FROM outbox WHERE kind = 'disposition' ORDER BY seq")]
    assert [q["type"] for q in queued] == ["check"] * 3 + ["disposition", "outcome"]
    assert all(q["hit_id"] == hit_id and q["audit_id"] for q in queued)
    assert conn.execute("SELECT disposition, disposed_by FROM hits").fetchone()[:] == ("confirmed_stop", "ofc.ray")
    assert verify_chain(conn)["ok"]


def test_refusals_change_nothing(unit):
    _, conn, hit_id = unit
    with pytest.raises(DispositionError, match="dispatch"):
        _step(conn, record_disposition, hit_id, disposition="confirmed_stop", user="ofc.ray")
    with pytest.raises(DispositionError, match="dispatch"):
        _step(conn, record_outcome, hit_id, outcome="arrest", user="ofc.ray")
    with pytest.raises(DispositionError, match="takes one of"):
        _step(conn, record_check, hit_id, check="plate", result="confirmed", user="ofc.ray")
    with pytest.raises(DispositionError, match="user id"):
        _step(conn, record_check, hit_id, check="plate", result="match", user="")
    with pytest.raises(DispositionError, match="no hit"):
        _step(conn, record_check, "nope", check="plate", result="match", user="ofc.ray")
    assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM outbox WHERE kind = 'disposition'").fetchone()[0] == 0
    assert conn.execute("SELECT disposition FROM hits").fetchone()[0] is None


def test_amendment_keeps_history_and_follows_the_rule(unit):
    _, conn, hit_id = unit
    _roster(conn, ("ofc.ray", ["officer"]), ("ofc.kim", ["officer"]), ("sgt.lee", ["supervisor"]))
    _step(conn, record_disposition, hit_id, disposition="misread", user="ofc.ray")
    with pytest.raises(DispositionError, match="already"):
        _step(conn, record_disposition, hit_id, disposition="not_current", user="ofc.ray")
    with pytest.raises(DispositionError, match="supervisor"):
        _step(conn, record_disposition, hit_id, disposition="not_current", user="ofc.kim", amend=True,
              amend_reason="dispatch called back")
    _step(conn, record_disposition, hit_id, disposition="not_current", user="sgt.lee", amend=True,
          amend_reason="dispatch called back")
    history = hit_detail(conn, hit_id, now=NOW)["dispositions"]
    assert [(d["disposition"], d["user"]) for d in history] == [("misread", "ofc.ray"), ("not_current", "sgt.lee")]
    assert history[1]["amends"] == history[0]["id"] and history[1]["amend_reason"] == "dispatch called back"
    with pytest.raises(Exception, match="append-only"):
        conn.execute("UPDATE hit_dispositions SET disposition = 'arrest'")


def test_unanswered_hits_turn_unacknowledged_once_and_stay_open(tmp_path):
    conn = open_database(tmp_path)
    transaction(conn, lambda c: save_read(c, _read("r-old", "OLD111", priority=30), NOW))
    transaction(conn, lambda c: save_read(c, _read("r-high", "HIGH22", priority=0), NOW + timedelta(minutes=4)))
    transaction(conn, lambda c: save_read(c, _read("r-covert", "SPY333", alert="silent"), NOW))
    later = NOW + timedelta(minutes=6)
    marked = transaction(conn, lambda c: mark_unacknowledged(c, now=later, after=timedelta(minutes=5), unit_id="u1"))
    assert len(marked) == 1
    assert transaction(conn, lambda c: mark_unacknowledged(c, now=later, after=timedelta(minutes=5), unit_id="u1")) == []
    hits = open_hits(conn, now=later)
    assert [(h["plate"], h["status"]) for h in hits] == [("HIGH22", "new"), ("OLD111", "unacknowledged")]
    assert [r[0] for r in conn.execute("SELECT event FROM audit_log")] == ["hit_unacknowledged"]
    assert conn.execute("SELECT count(*) FROM outbox WHERE kind = 'disposition'").fetchone()[0] == 1


def test_hit_ids_resolve_from_a_unique_prefix(unit):
    _, conn, hit_id = unit
    assert find_hit_id(conn, hit_id[:8]) == hit_id
    with pytest.raises(DispositionError, match="first 4"):
        find_hit_id(conn, hit_id[:2])
    with pytest.raises(DispositionError, match="no hit"):
        find_hit_id(conn, "zzzzzzzz")


def test_cli_walks_the_steps_by_prefix_and_is_audited(unit):
    data, conn, hit_id = unit
    base = [*alpr_unit_cmd(), "hit"]
    common = ["--data-dir", str(data), "--user", "ofc.ray", "--json"]

    def run(*args):
        return subprocess.run([*base, *args, *common], capture_output=True, text=True, timeout=60)

    listed = run("list")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout.splitlines()[0])["id"] == hit_id
    for check, result in CONFIRMED.items():
        assert run("check", hit_id[:8], "--check", check, "--result", result).returncode == 0
    refused = run("outcome", hit_id[:8], "--outcome", "arrest")
    assert refused.returncode == 1 and "confirmed disposition" in json.loads(refused.stdout)["error"]
    assert run("verify", hit_id[:8], "--disposition", "confirmed_stop").returncode == 0
    assert run("outcome", hit_id[:8], "--outcome", "arrest").returncode == 0
    shown = json.loads(run("show", hit_id[:8]).stdout)
    assert shown["status"] == "disposed" and [o["outcome"] for o in shown["outcomes"]] == ["arrest"]
    events = [r[0] for r in conn.execute("SELECT event FROM audit_log ORDER BY seq")]
    assert events.count("hit_check") == 3 and events[-4:] == ["hit_outcome", "login_ok", "access", "query"]
