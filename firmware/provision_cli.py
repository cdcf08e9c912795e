"""`alpr-unit provision`: create a unit's data dir and database and bind it to the config's unit id.

With `run` and `demo` the only command that creates unit data: every other command refuses a data dir
with no database (firmware.unit_data). The unit has no roster until the agency's signed roster
arrives, so provisioning is itself the audited technician path (`unit_provisioned`, by name) and the
unit reports the malfunction "no roster" until then.
"""

from __future__ import annotations

import sys
from pathlib import Path

from firmware.cli import EXIT_OK, EXIT_USAGE, add_common, emit, load_unit_config


def register(sub) -> None:
    p = sub.add_parser("provision", help="create this unit's data dir and database, bound to its unit id "
                                         "(technician set-up; audited)")
    add_common(p)
    p.add_argument("--user", required=True, help="the technician doing the set-up (recorded in the audit log)")
    p.add_argument("--audit-key-out", type=Path, default=None,
                   help="also create the forward-secure audit key: the initial key is written here for the agency "
                        "(0600, never kept on the unit; see docs/compliance.md)")
    p.set_defaults(func=_provision)


def _provision(args) -> int:
    from firmware.clock import SystemClock
    from firmware.retention.audit import append_audit
    from firmware.roster import roster_state
    from firmware.storage.db import transaction
    from firmware.unit_data import has_unit_data, open_unit

    if not args.user.strip():       # the audit log must name who set the unit up
        print("provision: --user must name the technician", file=sys.stderr)
        return EXIT_USAGE
    config = load_unit_config(args)
    existed = has_unit_data(config.unit.data_dir)
    conn = open_unit(config, create=True)
    try:
        at = SystemClock().utc()
        state = roster_state(conn, at)
        transaction(conn, lambda c: append_audit(
            c, unit_id=config.unit.id, event="unit_provisioned", at=at, user=args.user, purpose="provisioning",
            detail={"data_dir": str(config.unit.data_dir), "existed": existed, "roster": state["state"]}))
        key = None
        if args.audit_key_out is not None:
            from firmware.retention.auditkey import AuditKeyError, provision_key

            try:
                key = transaction(conn, lambda c: provision_key(c, args.audit_key_out, unit_id=config.unit.id,
                                                                at=at, user=args.user))
            except AuditKeyError as exc:
                print(f"provision: audit key: {exc}", file=sys.stderr)
                return EXIT_USAGE
    finally:
        conn.close()
    emit({"event": "provisioned", "unit_id": config.unit.id, "data_dir": str(config.unit.data_dir),
          "created": not existed, "roster": state["state"], "malfunction": state["malfunction"],
          "audit_key": key or "not created (give --audit-key-out, or run `alpr-unit audit init-key`)"}, args.json)
    return EXIT_OK
