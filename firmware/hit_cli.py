"""`alpr-unit hit list|show|check|verify|outcome`: the officer's verification of a hit from a shell.

The in-car screen is the officer's normal way in; these commands call the same functions
(firmware/dispositions.py) for a supervisor or technician at a terminal. Each is a login and an access
decision (firmware.access: hits.view, hits.verify, hits.amend), audited.
"""

from __future__ import annotations

from datetime import timedelta

from firmware.access_cli import add_access_arguments, open_with_access
from firmware.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_common, emit, load_unit_config, number
from firmware.clock import SystemClock
from firmware.dispositions import (CHECKS, DISPOSITIONS, OUTCOMES, DispositionError, all_hits, find_hit_id,
                                   hit_detail, record_check, record_disposition, record_outcome)
from firmware.retention.audit import append_audit


def register(sub) -> None:
    hit = sub.add_parser("hit", help="list hits and record the officer's verification")
    hit_sub = hit.add_subparsers(dest="hit_command", required=True)

    def command(name: str, help_text: str, func, with_hit: bool = True):
        p = hit_sub.add_parser(name, help=help_text)
        add_common(p)
        if with_hit:
            p.add_argument("hit_id", help="the hit id or a unique prefix of it (at least 4 characters)")
        add_access_arguments(p)
        p.set_defaults(func=func)
        return p

    listing = command("list", "hits on this unit, unanswered first", _list, with_hit=False)
    listing.add_argument("--limit", type=number(1, 10 ** 9), default=100)
    command("show", "one hit: the read beside the entry, and every step recorded so far", _show)
    check = command("check", "record one verification step: plate, state, or dispatch", _check)
    check.add_argument("--check", required=True, choices=sorted(CHECKS))
    check.add_argument("--result", required=True,
                       choices=sorted({r for spec in CHECKS.values() for r in spec["results"]}))
    check.add_argument("--note", default=None)
    verify = command("verify", "record the disposition (what the officer found)", _verify)
    verify.add_argument("--disposition", required=True, choices=sorted(DISPOSITIONS))
    verify.add_argument("--note", default=None)
    verify.add_argument("--amend", action="store_true", help="replace an earlier disposition (history is kept)")
    verify.add_argument("--reason", default=None, help="why the disposition is amended (required with --amend)")
    outcome = command("outcome", "record what came of a confirmed hit", _outcome)
    outcome.add_argument("--outcome", required=True, choices=sorted(OUTCOMES))
    outcome.add_argument("--note", default=None)


ACTIONS = {"list": "hits.view", "show": "hits.view", "check": "hits.verify", "verify": "hits.verify",
           "outcome": "hits.verify"}


def _open(args):
    """Config and database when the access rule lets `args.user` do this hit command (audited), else None."""
    action = "hits.amend" if getattr(args, "amend", False) else ACTIONS[args.hit_command]
    terms = {k: getattr(args, k, None) for k in ("hit_id", "check", "result", "disposition", "outcome", "limit")}
    config, conn, decision = open_with_access(args, action, purpose="hit verification", terms=terms)
    if not decision.ok:
        conn.close()
        return config, None
    return config, conn


def _run(args, job) -> int:
    """Log in, resolve the hit id prefix, run one recording job in a transaction, report the outcome."""
    from firmware.storage.db import transaction

    config, conn = _open(args)
    if conn is None:
        return EXIT_FAILED
    try:
        hit_id = find_hit_id(conn, args.hit_id)
    except DispositionError as exc:      # an unknown, short or ambiguous id: a usage mistake (README: exit 2)
        emit({"ok": False, "error": str(exc)}, args.json)
        return EXIT_USAGE
    try:
        result = transaction(conn, lambda c: job(c, hit_id, config.unit.id))
    except DispositionError as exc:
        emit({"ok": False, "error": str(exc)}, args.json)
        return EXIT_FAILED
    emit({"ok": True, **result}, args.json)
    return EXIT_OK


def _unack_after(config) -> timedelta:
    return timedelta(seconds=config.alerts.unacknowledged_after_s)


def _list(args) -> int:
    from firmware.storage.db import transaction

    config, conn = _open(args)
    if conn is None:
        return EXIT_FAILED
    now = SystemClock().utc()
    rows = all_hits(conn, now=now, limit=args.limit, unacknowledged_after=_unack_after(config))
    transaction(conn, lambda c: append_audit(
        c, unit_id=config.unit.id, event="query", at=now, user=args.user, purpose="hit verification",
        detail={"terms": {"hits": "list", "limit": args.limit}, "results": len(rows)}))
    if args.json:
        for row in rows:
            emit(row, True)
    elif not rows:
        print("no hits on this unit")
    else:
        print(f"{'hit':10} {'status':16} {'plate':9} {'entry':9} {'list':14} {'match':10} {'captured (UTC)':20}")
        for r in rows:
            print(f"{r['id'][:8]:10} {r['status']:16} {r['plate']:9} {r['entry_plate']:9} {r['list_name'][:14]:14}"
                  f" {r['match']:10} {r['captured_at'][:19].replace('T', ' '):20}")
    return EXIT_OK


def _show(args) -> int:
    def job(conn, hit_id, unit_id):
        now = SystemClock().utc()
        view = hit_detail(conn, hit_id, now=now, unacknowledged_after=_unack_after(load_unit_config(args)))
        append_audit(conn, unit_id=unit_id, event="query", at=now, user=args.user, purpose="hit verification",
                     detail={"terms": {"hit": hit_id}, "results": 1})
        return view
    return _run(args, job)


def _check(args) -> int:
    return _run(args, lambda conn, hit_id, unit_id: record_check(
        conn, hit_id, check=args.check, result=args.result, user=args.user, at=SystemClock().utc(),
        unit_id=unit_id, note=args.note))


def _verify(args) -> int:
    return _run(args, lambda conn, hit_id, unit_id: record_disposition(
        conn, hit_id, disposition=args.disposition, user=args.user, at=SystemClock().utc(), unit_id=unit_id,
        note=args.note, amend=args.amend, amend_reason=args.reason))


def _outcome(args) -> int:
    return _run(args, lambda conn, hit_id, unit_id: record_outcome(
        conn, hit_id, outcome=args.outcome, user=args.user, at=SystemClock().utc(), unit_id=unit_id,
        note=args.note))
