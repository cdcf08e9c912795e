"""The access rule on the command line: `--user` (required), `--pin-stdin`, `--provisioning`, and one call
that logs the user in and authorises the action, both audited, printing a refusal a person can act on."""

from __future__ import annotations

import sys

from firmware.access import Decision, authenticate, authorize
from firmware.cli import emit

USER_HELP = "your user id on the agency roster (a login: the PIN is asked when the roster holds one)"


def add_access_arguments(parser, *, provisioning: bool = False, system: bool = False) -> None:
    if system:
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--user", help=USER_HELP)
        who.add_argument("--system", action="store_true",
                         help="run by the unit itself (its systemd timer), no person: audited as 'system'")
    else:
        parser.add_argument("--user", required=True, help=USER_HELP)
    parser.add_argument("--pin-stdin", action="store_true",
                        help="read the user's PIN or password from the first line of stdin (else a prompt on a "
                             "terminal); asked only when the agency roster holds a credential for the user")
    if provisioning:
        parser.add_argument("--provisioning", action="store_true",
                            help="technician set-up on a unit with no roster yet (audited; the unit reports "
                                 "'no roster' until the agency's roster arrives)")


def _secret(conn, args) -> str | None:
    import getpass

    from firmware.auth import needs_secret

    if not needs_secret(conn, args.user):
        return None
    if getattr(args, "pin_stdin", False):
        return sys.stdin.readline().rstrip("\r\n") or None
    if sys.stdin.isatty():
        return getpass.getpass(f"PIN for {args.user}: ") or None
    return None


def cli_access(conn, args, config, *, action: str, purpose: str | None = None, terms: dict | None = None,
               at=None) -> Decision:
    """Log `args.user` in and authorise `action` (each its own audited transaction). Prints the refusal."""
    from firmware.clock import SystemClock
    from firmware.storage.db import transaction

    at = at or SystemClock().utc()
    unit_id = config.unit.id
    provisioning = bool(getattr(args, "provisioning", False))
    terms = {k: v for k, v in (terms or {}).items() if v is not None}
    if getattr(args, "system", False):
        args.user = "system"
        decision = transaction(conn, lambda c: authorize(c, user="system", action=action, at=at, unit_id=unit_id,
                                                         purpose=purpose, terms=terms, system=True))
        if not decision.ok:
            refuse(args, action, decision)
        return decision
    secret = _secret(conn, args)
    session = transaction(conn, lambda c: authenticate(
        c, user=args.user, secret=secret, at=at, unit_id=unit_id, provisioning=provisioning,
        context={"action": action, "purpose": purpose, "terms": terms}))
    if not session.ok:
        decision = Decision(False, session.reason, session.message)
    else:
        decision = transaction(conn, lambda c: authorize(
            c, user=args.user, action=action, at=at, unit_id=unit_id, purpose=purpose, terms=terms,
            config=config.retention, provisioning=provisioning))
    if not decision.ok:
        refuse(args, action, decision)
    return decision


def refuse(args, action: str, decision: Decision) -> None:
    text = f"refused: {args.user!r} may not {action}: {decision.message} (audited)"
    print(text, file=sys.stderr)
    if getattr(args, "json", False):
        emit({"event": "refused", "ok": False, "user": args.user, "action": action, "reason": decision.reason,
              "error": text})


def open_with_access(args, action: str, *, purpose: str | None = None, terms: dict | None = None):
    """The unit's config and (existing, bound) database, and the access decision for `action`.
    The caller closes the connection and returns EXIT_FAILED when the decision refuses."""
    from firmware.cli import load_unit_config
    from firmware.unit_data import open_unit

    config = load_unit_config(args)
    conn = open_unit(config)
    try:
        decision = cli_access(conn, args, config, action=action, purpose=purpose, terms=terms)
    except BaseException:
        conn.close()
        raise
    return config, conn, decision
