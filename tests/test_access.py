"""The one access rule: the pure decision over every case, the audited wrapper, the login, the roster
state for health, the purpose screen, and the table in docs/access.md matching the code."""

import json
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from firmware.access import (ACTIONS, PROVISIONING_ACTIONS, ROLES, authenticate, authorize, decide,
                             roster_state)
from firmware.retention.config import RetentionConfig
from firmware.roster import RosterMember
from firmware.storage.db import open_database, transaction
from rosters import TRAINED, install_roster

NOW = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
REPO = Path(__file__).resolve().parent.parent


def member(roles=("officer",), active=True, trained=date(2026, 1, 1), recert=None):
    return RosterMember("u", active, tuple(roles), None, trained, recert)


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("role", ROLES)
def test_every_role_and_action_is_decided_by_the_table(role, action):
    got = decide(roster_present=True, member=member((role,)), action=action, now=NOW)
    assert got.ok == (role in ACTIONS[action])
    assert got.reason == ("allowed" if got.ok else "role_not_allowed") and got.roles == (role,)


@pytest.mark.parametrize("case, kwargs, reason", [
    ("unknown user", dict(member=None), "unknown_user"),
    ("removed", dict(member=member(active=False)), "inactive"),
    ("never trained", dict(member=member(trained=None)), "untrained"),
    ("training lapsed", dict(member=member(trained=date(2025, 4, 30), recert=365)), "training_expired"),
    ("lapses today+1", dict(member=member(trained=date(2025, 5, 1), recert=365)), "allowed"),
    ("no recert period", dict(member=member(trained=date(2001, 1, 1))), "allowed"),
    ("unknown action", dict(member=member(), action="reads.delete_all"), "unknown_action"),
    ("no roster", dict(roster_present=False, member=None), "no_roster"),
    ("no roster, provisioning a data action", dict(roster_present=False, member=None, provisioning=True),
     "not_provisioning"),
    ("no roster, provisioning", dict(roster_present=False, member=None, provisioning=True,
                                     action="selftest.run"), "provisioning"),
    ("roster, provisioning flag ignored", dict(member=None, provisioning=True, action="selftest.run"),
     "unknown_user"),
    ("removed beats role", dict(member=member(roles=("technician",), active=False)), "inactive"),
    ("the unit itself checks its audit chain", dict(member=None, system=True, action="audit.verify"), "system"),
    ("the unit itself cannot search", dict(member=None, system=True), "not_system"),
])
def test_each_refusal_case(case, kwargs, reason):
    args = dict(roster_present=True, action="reads.search", now=NOW) | kwargs
    got = decide(**args)
    assert got.reason == reason and got.ok == (reason in ("allowed", "provisioning", "system")) and got.message


def test_provisioning_never_opens_unit_data():
    data = {"reads.view", "reads.search", "reads.export", "hits.view", "hits.verify", "hotlist.manual_view",
            "hotlist.manual_add", "hotlist.match", "hold.view", "hold.manage", "report.view", "audit.view"}
    assert not (PROVISIONING_ACTIONS & data) and PROVISIONING_ACTIONS <= set(ACTIONS)


@pytest.fixture
def conn(tmp_path):
    c = open_database(tmp_path)
    yield c
    c.close()


def audit(conn):
    return [(r["event"], r["user"], r["purpose"], json.loads(r["detail"])) for r in
            conn.execute("SELECT event, user, purpose, detail FROM audit_log ORDER BY seq")]


def run(conn, **kw):
    args = dict(unit_id="u1", at=NOW, config=RetentionConfig()) | kw
    return transaction(conn, lambda c: authorize(c, **args))


@pytest.mark.parametrize("user, action, purpose, reason", [
    ("ofc.ray", "reads.search", "stolen vehicle", "allowed"),
    ("ofc.ray", "reads.search", "speed enforcement", "prohibited"),
    ("ofc.ray", "reads.search", "curiosity", "not_listed"),
    ("ofc.ray", "hotlist.manual_add", "robbery suspect vehicle, case 26-1187", "allowed"),
    ("ofc.ray", "hotlist.manual_add", ".", "no_reason"),
    ("ofc.ray", "hotlist.manual_add", "suspect", "no_reason"),
    ("ofc.ray", "hotlist.manual_add", "hit and run suspect", "prohibited"),
    ("ofc.ray", "hotlist.manual_add", "robbery suspect vehicle, case 26-1187; " * 13, "too_long"),   # 520 chars
    ("ofc.ray", "hotlist.manual_add", ("robbery suspect vehicle, case 26-1187; " * 13)[:500], "allowed"),
    ("ofc.ray", "hotlist.manual_remove", "entered for a traffic matter by mistake", "allowed"),
    ("ofc.ray", "hold.manage", None, "role_not_allowed"),
    ("adm.ann", "hold.manage", None, "allowed"),
    ("ofc.gone", "hits.view", None, "inactive"),
    ("ofc.new", "hits.view", None, "untrained"),
    ("nobody", "hits.view", None, "unknown_user"),
    ("", "hits.view", None, "no_user"),
])
def test_authorize_decides_and_audits_every_attempt(conn, user, action, purpose, reason):
    install_roster(conn)
    terms = {"plate": "ABC123"}
    got = run(conn, user=user, action=action, purpose=purpose, terms=terms)
    assert got.reason == reason and got.ok == (reason == "allowed")
    [(event, who, why, detail)] = audit(conn)
    purpose_refusal = reason in ("prohibited", "not_listed", "no_reason", "too_long")
    assert event == ("access" if got.ok else "query_refused" if purpose_refusal else "access_refused")
    assert who == (user or None) and why == purpose
    assert detail["action"] == action and detail["reason"] == reason and detail["terms"] == terms


def test_recertification_period_from_the_roster(conn):
    install_roster(conn, [{"id": "ofc.ray", "name": "R", "roles": ["officer"]}], recert_days=90)
    assert run(conn, user="ofc.ray", action="hits.view", at=datetime(2026, 4, 10, tzinfo=timezone.utc)).ok
    late = run(conn, user="ofc.ray", action="hits.view", at=datetime(2026, 4, 11, tzinfo=timezone.utc))
    assert late.reason == "training_expired"
    assert roster_state(conn, datetime(2026, 4, 11, tzinfo=timezone.utc))["training_due"] == 1


def test_no_roster_refuses_and_provisioning_is_audited_and_reported(conn):
    assert roster_state(conn) == {"state": "none", "malfunction": "no roster", "users": 0, "active": 0,
                                  "training_due": 0}
    login = transaction(conn, lambda c: authenticate(c, user="tech.x", secret=None, at=NOW, unit_id="u1"))
    assert not login.ok and login.reason == "no_roster"
    assert not run(conn, user="tech.x", action="hits.view").ok
    login = transaction(conn, lambda c: authenticate(c, user="tech.x", secret=None, at=NOW, unit_id="u1",
                                                     provisioning=True))
    assert login.ok and login.reason == "provisioning"
    assert run(conn, user="tech.x", action="selftest.run", provisioning=True).ok
    assert run(conn, user="tech.x", action="reads.search", purpose="stolen vehicle", provisioning=True
               ).reason == "not_provisioning"
    events = [(e, d.get("reason", d.get("method")), d.get("provisioning")) for e, _, _, d in audit(conn)]
    assert events == [("login_failed", "no_roster", None), ("access_refused", "no_roster", None),
                      ("login_ok", "provisioning", None), ("access", "provisioning", True),
                      ("access_refused", "not_provisioning", None)]
    install_roster(conn)
    state = roster_state(conn, NOW)
    assert state["state"] == "present" and state["malfunction"] is None
    assert (state["users"], state["active"], state["training_due"]) == (7, 6, 1)


def test_old_admin_role_is_the_administrator(conn):
    install_roster(conn, [{"id": "a", "name": "A", "roles": ["admin"]}])
    assert run(conn, user="a", action="hotlist.import").ok


def test_docs_table_matches_the_code():
    text = (REPO / "docs" / "access.md").read_text()
    rows = {}
    for line in text.splitlines():
        m = re.match(r"\|\s*`([a-z_.]+)`\s*\|(.*)\|\s*$", line)
        if m and m.group(1) in ACTIONS:
            cells = [c.strip() for c in m.group(2).split("|")]
            rows[m.group(1)] = {role for role, cell in zip(ROLES, cells) if cell.lower().startswith("yes")}
    assert rows == {a: set(r) for a, r in ACTIONS.items()}
