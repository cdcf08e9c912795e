"""The one access rule for every command and screen action that shows or changes unit data.

Both general orders (../shared/seeds) allow ALPR data to trained, currently authorised users only,
by individual login, for law-enforcement purposes, and require every access to be logged with user,
date, time, purpose and the terms used. So each action a person takes is named here (ACTIONS: action
-> roles allowed; docs/access.md shows the same table) and decided by one pure function, `decide`,
over plain data: the roster entry (active, roles, training date, recertification period), whether a
roster exists at all, the action and the time. `authorize` is its audited wrapper: one audit entry
per attempt, allowed or refused, inside the caller's transaction. `authenticate` is the login
(firmware.auth: scrypt credential, lockout), also audited.

A unit with no roster yet refuses data access. A technician can still provision and diagnose it
with `provisioning=True` (CLI `--provisioning`), limited to PROVISIONING_ACTIONS, every use audited
and the missing roster reported as a malfunction (`roster_state`, firmware.roster).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from firmware.retention.audit import append_audit
from firmware.roster import RosterMember, roster_member, roster_state  # noqa: F401  (roster_state re-exported)

ROLES = ("officer", "supervisor", "administrator", "technician", "auditor")

_ALL = frozenset(ROLES)
_SWORN = frozenset({"officer", "supervisor", "administrator"})
_OVERSIGHT = frozenset({"supervisor", "administrator", "auditor"})
_ADMIN = frozenset({"administrator"})
_TECH = frozenset({"technician", "administrator"})

# action -> roles allowed. Keep docs/access.md in step (a test compares them).
ACTIONS: dict[str, frozenset[str]] = {
    "health.view": _ALL,                                  # unit status, no plate data
    "reads.view": _SWORN | {"auditor"},                   # stored reads and their images on the screen
    "reads.search": _SWORN | {"auditor"},                 # `query`: needs a listed purpose
    "reads.export": _ADMIN,                               # only the administrator/custodian downloads data
    "hits.view": _SWORN | {"auditor"},
    "hits.verify": frozenset({"officer", "supervisor"}),  # the officer on scene (or a supervisor)
    "hits.amend": frozenset({"officer", "supervisor"}),   # the deciding officer or a supervisor (dispositions)
    "hotlist.view": _ALL,                                 # list names, versions, ages, sizes: no plates
    "hotlist.match": _SWORN,                              # check one plate against the lists
    "hotlist.import": _ADMIN,                             # the custodian manages the gathering of hotlists
    "hotlist.manual_view": _SWORN | {"auditor"},          # manual entries show plates and reasons
    "hotlist.manual_add": _SWORN,                         # a reason is required and screened
    "hotlist.manual_extend": _SWORN,                      # a justification is required and screened
    "hotlist.manual_remove": _SWORN,
    "hold.view": _OVERSIGHT,                              # the Data Retention Request Log
    "hold.manage": _ADMIN,                                # the custodian preserves data (form ALPR-1)
    "maintenance.view": _TECH | _OVERSIGHT,
    "maintenance.write": _TECH,
    "purge.run": _TECH,
    "report.view": frozenset({"administrator", "auditor"}),
    "audit.view": frozenset({"administrator", "auditor"}),
    "audit.verify": _TECH | {"auditor"},                  # chain check: counts and problems, no plate data
    "audit.key_init": _TECH,                              # provisioning: the agency's forward-secure audit key
    "config.view": _TECH,
    "selftest.run": _TECH,
    "sync.manage": _TECH,                                 # requeue, drain the outbox
    "db.recover": _TECH,
}

# What a technician may do on a unit that has no roster yet (audited; the unit shows "no roster").
PROVISIONING_ACTIONS = frozenset({"health.view", "hotlist.view", "maintenance.view", "maintenance.write",
                                  "audit.verify", "config.view", "selftest.run", "sync.manage", "db.recover",
                                  "purge.run", "audit.key_init"})

# What the unit itself may do with no person logged in (its daily audit-chain check, systemd timer): no
# plate data, audited as user "system".
SYSTEM_ACTIONS = frozenset({"audit.verify", "health.view"})

# Actions that search or set up a search: the stated purpose is screened (firmware.retention.query).
#   listed: one of retention.purposes, never a prohibited one;  reason: free text, meaningful, never a
#   prohibited use;  stated: free text, meaningful (e.g. why a manual entry is removed).
PURPOSE_RULES = {"reads.search": "listed", "reads.export": "listed", "hotlist.manual_add": "reason",
                 "hotlist.manual_extend": "reason", "hotlist.manual_remove": "stated"}

PURPOSE_REFUSALS = ("prohibited", "not_listed", "no_reason", "too_long")

MESSAGES = {
    "allowed": "allowed",
    "provisioning": "allowed for provisioning: this unit has no roster yet (reported as a malfunction)",
    "system": "allowed to the unit itself (no person, no plate data)",
    "not_system": "the unit itself may only check its audit chain and health; a person must log in for this",
    "no_user": "name the user (--user)",
    "no_roster": "this unit has no roster from the agency yet: data access is refused (a technician may use "
                 "--provisioning for set-up and diagnosis)",
    "unknown_user": "not a user on the agency roster",
    "inactive": "not an active user on the agency roster",
    "untrained": "no ALPR training is recorded for this user on the agency roster",
    "training_expired": "this user's ALPR training has lapsed (recertification due)",
    "role_not_allowed": "no role of this user on the agency roster may do this",
    "unknown_action": "not an action this unit knows",
    "not_provisioning": "not allowed while the unit has no roster, even for provisioning",
    "prohibited": "a prohibited purpose (traffic enforcement, crash investigation, commercial use, ...)",
    "not_listed": "not one of the purposes the agency allows (retention.purposes)",
    "no_reason": "give a specific reason (a few words saying why), not a placeholder",
    "too_long": "the reason is over 500 characters: say why in a few words (the details belong in the case file)",
}


@dataclass(frozen=True)
class Decision:
    ok: bool
    reason: str
    message: str = ""
    roles: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, ok: bool, reason: str, roles: tuple[str, ...] = ()) -> "Decision":
        return cls(ok, reason, MESSAGES.get(reason, reason), tuple(roles))


def training_current(member: RosterMember, today: date) -> bool:
    """Trained, and (when the agency set a recertification period) recertified within it."""
    if member.trained_on is None:
        return False
    if member.recert_days is None:
        return True
    return today <= member.trained_on + timedelta(days=int(member.recert_days))


def decide(*, roster_present: bool, member: RosterMember | None, action: str, now: datetime,
           provisioning: bool = False, system: bool = False) -> Decision:
    """Pure: may this roster entry do `action` now? The order of checks is the order of the messages a
    user needs: who are you, are you active, are you trained, may your role do this."""
    if action not in ACTIONS:
        return Decision.of(False, "unknown_action")
    if system:
        return Decision.of(action in SYSTEM_ACTIONS, "system" if action in SYSTEM_ACTIONS else "not_system")
    if not roster_present:
        if not provisioning:
            return Decision.of(False, "no_roster")
        if action not in PROVISIONING_ACTIONS:
            return Decision.of(False, "not_provisioning")
        return Decision.of(True, "provisioning", ("technician",))
    if member is None:
        return Decision.of(False, "unknown_user")
    if not member.active:
        return Decision.of(False, "inactive", member.roles)
    if member.trained_on is None:
        return Decision.of(False, "untrained", member.roles)
    if not training_current(member, now.date()):
        return Decision.of(False, "training_expired", member.roles)
    if not set(member.roles) & ACTIONS[action]:
        return Decision.of(False, "role_not_allowed", member.roles)
    return Decision.of(True, "allowed", member.roles)


def screen_for(action: str, purpose: str | None, config) -> str | None:
    """Pure: the purpose refusal for `action` (None when it passes or the action needs no purpose)."""
    from firmware.retention.query import check_purpose, screen_reason

    rule = PURPOSE_RULES.get(action)
    if rule is None:
        return None
    if rule == "listed":
        if config is None:
            from firmware.retention.config import RetentionConfig

            config = RetentionConfig()
        check = check_purpose("-", purpose or "", config)
        return None if check.allowed else check.reason
    return screen_reason(purpose or "", config, screen_prohibited=(rule == "reason"))


def authorize(conn: sqlite3.Connection, *, user: str, action: str, at: datetime, unit_id: str,
              purpose: str | None = None, terms: dict | None = None, config=None,
              provisioning: bool = False, system: bool = False) -> Decision:
    """Decide and audit one attempt (inside the caller's transaction, so the entry always commits).
    `config`: the RetentionConfig whose purposes screen searches. Audited as `access`, `access_refused`
    or (a search refused for its purpose) `query_refused`, with user, time, action, purpose and terms."""
    if system:
        user = "system"
        decision = decide(roster_present=True, member=None, action=action, now=at, system=True)
    elif not (user or "").strip():
        decision = Decision.of(False, "no_user")
    else:
        present, member = roster_member(conn, user)
        decision = decide(roster_present=present, member=member, action=action, now=at, provisioning=provisioning)
        if decision.ok:
            refusal = screen_for(action, purpose, config)
            if refusal:
                decision = Decision.of(False, refusal, decision.roles)
    detail = {"action": action, "reason": decision.reason, "roles": list(decision.roles), "terms": terms or {}}
    if decision.reason == "provisioning":
        detail["provisioning"] = True
    event = "access" if decision.ok else "access_refused"
    if decision.reason in PURPOSE_REFUSALS:   # a refused search, counted as such by the annual report
        event = "query_refused"
        if PURPOSE_RULES.get(action) == "listed":
            from firmware.retention.purpose import normalise_purpose

            purpose = normalise_purpose(purpose or "")
    append_audit(conn, unit_id=unit_id, event=event, at=at, user=(user or "").strip() or None, purpose=purpose,
                 detail=detail)
    return decision


def authenticate(conn: sqlite3.Connection, *, user: str, secret: str | None, at: datetime, unit_id: str,
                 context: dict | None = None, provisioning: bool = False):
    """The login (firmware.auth: scrypt credential, lockout after repeated failures), audited as
    login_ok / login_failed / login_locked. With no roster there is no credential to check: refused,
    unless `provisioning` (then only PROVISIONING_ACTIONS pass `authorize`)."""
    from firmware.auth import login

    return login(conn, user, secret, purpose=(context or {}).get("purpose"), at=at, unit_id=unit_id,
                 context=context, provisioning=provisioning)
