"""`alpr-unit purge | hold | audit | maintenance | report | query`: retention, preservation and audit.

Every command is a login and an access decision (firmware.access: roster, training, role, purpose; all
audited), opens the unit's existing database itself (it is its own writer) and audits what it changes.
Exit codes: 0 ok, 1 a check failed or access/the query was refused, 2 bad usage (or no unit data in the
data dir), 3 storage failure.
"""

from __future__ import annotations

import sqlite3
import sys
from datetime import timedelta
from pathlib import Path

from firmware.access_cli import add_access_arguments
from firmware.cli import EXIT_FAILED, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, add_common, emit, existing_path, number
from firmware.clock import SystemClock, iso_utc
from firmware.retention.auditkey import MAX_KEY_STEPS
from firmware.retention.periods import inverted_period, when_arg


def _out(obj: dict, args) -> None:
    emit(obj, as_json=args.json)


def _session(args, action: str, **kw):
    """(config, conn) when `args.user` may do `action` (audited), else (None, None) after the refusal."""
    from firmware.access_cli import open_with_access

    config, conn, decision = open_with_access(args, action, **kw)
    if not decision.ok:
        conn.close()
        return None, None
    return config, conn


def cmd_purge(args) -> int:
    from firmware.retention.purge import Purger
    from firmware.storage.db import transaction

    config, conn = _session(args, "purge.run", terms={"dry_run": args.dry_run})
    if conn is None:
        return EXIT_FAILED

    def checkpoint():
        return tuple(conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone())

    try:
        purger = Purger(config.retention, config.unit.data_dir, config.unit.id, SystemClock(),
                        run_job=lambda fn: transaction(conn, fn), checkpoint=checkpoint)
        report = purger.run(dry_run=args.dry_run)
    finally:
        conn.close()
    _out(report, args)
    if report.get("refused"):   # nothing deleted: the clock cannot be trusted (issue 18)
        print(f"purge refused, nothing deleted: {'; '.join(report['clock']['reasons'])}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


HOLD_COLUMNS = [("id", "id"), ("status", "status"), ("kind", "kind"), ("case_number", "case"), ("plate", "plate"),
                ("camera_id", "camera"), ("start_at", "from (UTC)"), ("end_at", "to (UTC)"),
                ("expires_at", "expires (UTC)"), ("statement_ref", "statement")]


def cmd_hold(args) -> int:
    from firmware.retention import holds
    from firmware.storage.db import transaction
    from firmware.tables import show, utc
    from firmware.unit_data import resolve_id

    listing = args.hold_command == "list"
    terms = {"hold": args.hold_command, "id": getattr(args, "id", None), "plate": getattr(args, "plate", None),
             "case_number": getattr(args, "case", None), "status": getattr(args, "status", None)}
    config, conn = _session(args, "hold.view" if listing else "hold.manage", terms=terms)
    if conn is None:
        return EXIT_FAILED
    now, unit = SystemClock().utc(), config.unit.id
    days = config.retention.hold_days
    try:
        if args.hold_command == "add":
            form = {"kind": args.kind, "unit_id": args.unit or unit, "camera_id": args.camera, "plate": args.plate,
                    "start_at": args.start, "end_at": args.end, "case_number": args.case,
                    "requesting_officer": args.officer, "agency": args.agency, "statement_ref": args.statement,
                    "parties": args.parties, "facts": args.facts, "source": "cli"}
            window = timedelta(hours=config.retention.hold_max_window_hours)
            hold_id = transaction(conn, lambda c: holds.add_hold(c, form, at=now, unit_id=unit, user=args.user,
                                                                 days=days, max_window=window))
            _out({"event": "hold_add", **holds.hold_dict(conn.execute(
                "SELECT * FROM holds WHERE id = ?", (hold_id,)).fetchone(), now)}, args)
        elif args.hold_command == "renew":
            hold_id = resolve_id(conn, "holds", args.id, what="hold")
            row = transaction(conn, lambda c: holds.renew_hold(c, hold_id, at=now, unit_id=unit, user=args.user,
                                                               statement_ref=args.statement, days=days))
            _out({"event": "hold_renew", **row}, args)
        elif args.hold_command == "release":
            hold_id = resolve_id(conn, "holds", args.id, what="hold")
            row = transaction(conn, lambda c: holds.release_hold(c, hold_id, at=now, unit_id=unit, user=args.user,
                                                                 reason=args.reason))
            _out({"event": "hold_release", **row}, args)
        else:
            rows = holds.list_holds(conn, now, args.status)
            people = [{**r, **{k: utc(r.get(k)) for k in ("start_at", "end_at", "expires_at")}} for r in rows]
            show(rows if args.json else people, HOLD_COLUMNS, as_json=args.json, event="hold",
                 empty=f"no {args.status + ' ' if args.status else ''}holds on this unit")
    except holds.HoldError as exc:
        print(f"hold: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        conn.close()
    return EXIT_OK


def cmd_audit_verify(args) -> int:
    from firmware.retention.audit import verify_chain

    config, conn = _session(args, "audit.verify")
    if conn is None:
        return EXIT_FAILED
    try:
        result = verify_chain(conn)
    finally:
        conn.close()
    _out({"event": "audit_verify", **result}, args)
    return EXIT_OK if result["ok"] else EXIT_FAILED


def cmd_audit_init_key(args) -> int:
    """Provisioning: the initial MAC key goes to the agency's file; the unit keeps only its successors."""
    from firmware.retention.auditkey import AuditKeyError, provision_key
    from firmware.storage.db import transaction

    config, conn = _session(args, "audit.key_init", terms={"out": str(args.out)})
    if conn is None:
        return EXIT_FAILED
    try:
        result = transaction(conn, lambda c: provision_key(c, args.out, unit_id=config.unit.id,
                                                           at=SystemClock().utc(), user=args.user))
    except AuditKeyError as exc:
        print(f"audit init-key: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        conn.close()
    _out({"event": "audit_key_provisioned", **result,
          "next": "hand the key file to the agency and delete it from this machine"}, args)
    return EXIT_OK


def cmd_agency_verify_audit(args) -> int:
    """The agency's check with the initial key, off the unit: every hash, every MAC, the key's position,
    the anchor. Needs no login on the unit: it runs where the key is, over a copy of the unit's data."""
    from firmware.retention.agency import verify_path
    from firmware.retention.auditkey import AuditKeyError, load_key_file

    try:
        key = load_key_file(args.key)
    except AuditKeyError as exc:
        print(f"agency verify-audit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = verify_path(args.target, key, args.stream, args.max_key_steps)
    except FileNotFoundError as exc:    # a folder without a database: no unit data (exit 2)
        print(f"agency verify-audit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (OSError, sqlite3.Error) as exc:
        print(f"agency verify-audit: cannot read {args.target}: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    _out({"event": "agency_verify_audit", **result}, args)
    if not result["ok"] and not args.json:
        bad = result["first_bad"]
        where = f", line {bad['line']}" if "line" in bad else ""
        print(f"first bad entry: seq {bad.get('seq')} ({bad['problem']}){where}", file=sys.stderr)
    return EXIT_OK if result["ok"] else EXIT_FAILED


MAINT_COLUMNS = [("at", "when (UTC)"), ("type", "type"), ("kind", "kind"), ("component", "component"),
                 ("technician", "by"), ("description", "description / detail")]


def cmd_maintenance(args) -> int:
    from firmware.retention import maintenance
    from firmware.storage.db import transaction
    from firmware.tables import show, utc

    adding = args.maint_command == "add"
    if inverted_period(args):
        return EXIT_USAGE
    config, conn = _session(args, "maintenance.write" if adding else "maintenance.view",
                            terms={"kind": getattr(args, "kind", None)} if adding else {})
    if conn is None:
        return EXIT_FAILED
    now = SystemClock().utc()
    try:
        if adding:
            try:
                entry_id = transaction(conn, lambda c: maintenance.add_maintenance(
                    c, kind=args.kind, technician=args.technician or args.user, description=args.description,
                    at=args.at or now, recorded_at=now, unit_id=config.unit.id, component=args.component,
                    out_of_service=args.out_of_service))
            except maintenance.MaintenanceError as exc:
                print(f"maintenance: {exc}", file=sys.stderr)
                return EXIT_USAGE
            _out({"event": "maintenance_add", "id": entry_id}, args)
            return EXIT_OK
        lo = iso_utc(args.start) if args.start else None
        hi = iso_utc(args.end) if args.end else None
        rows = maintenance.maintenance_entries(conn, lo, hi)
    finally:
        conn.close()
    people = [{**r, "at": utc(r["at"]), "description": r.get("description") or r.get("detail")} for r in rows]
    show(rows if args.json else people, MAINT_COLUMNS, as_json=args.json, event="maintenance",
         empty="no maintenance records or malfunctions in this period")
    return EXIT_OK


def cmd_report(args) -> int:
    """Build the report; unless --no-store, keep it, sign it with the unit's key (or say it is unsigned) and
    queue it for sync, audited."""
    from firmware.retention.report import build_report, load_signing_key, report_csv, store_report
    from firmware.storage.db import transaction

    if inverted_period(args):
        return EXIT_USAGE

    config, conn = _session(args, "report.view", terms={"from": iso_utc(args.start), "to": iso_utc(args.end),
                                                        "store": not args.no_store})
    if conn is None:
        return EXIT_FAILED
    try:
        now = SystemClock().utc()
        report = build_report(conn, args.start, args.end, now)
        if not args.no_store:
            try:
                key = load_signing_key(config.retention.report_signing_key)
            except (OSError, ValueError) as exc:
                print(f"report: cannot use retention.report_signing_key: {exc}", file=sys.stderr)
                return EXIT_USAGE
            record = transaction(conn, lambda c: store_report(c, report, at=now, unit_id=config.unit.id,
                                                              user=args.user, signing_key=key))
            print(f"report {record['id']} stored and queued for sync; {record['signed']}", file=sys.stderr)
    finally:
        conn.close()
    if args.format == "csv" and not args.json:
        sys.stdout.write(report_csv(report))
    else:
        emit(report, as_json=True)
    return EXIT_OK


READ_COLUMNS = [("captured_at", "captured (UTC)"), ("plate", "plate"), ("state", "state"), ("camera_id", "camera"),
                ("position", "position"), ("confidence", "conf"), ("hit_lists", "hits"), ("id", "read id")]


def cmd_query(args) -> int:
    from firmware.retention.query import query_reads
    from firmware.storage.db import transaction
    from firmware.tables import position, show, utc

    if inverted_period(args):
        return EXIT_USAGE
    terms = {"plate": args.plate, "case_number": args.case, "camera_id": args.camera,
             "from": iso_utc(args.start) if args.start else None, "to": iso_utc(args.end) if args.end else None}
    config, conn = _session(args, "reads.search", purpose=args.purpose, terms=terms)
    if conn is None:
        return EXIT_FAILED
    try:
        result = transaction(conn, lambda c: query_reads(
            c, config=config.retention, unit_id=config.unit.id, at=SystemClock().utc(), user=args.user,
            purpose=args.purpose, plate=args.plate, start=args.start, end=args.end, camera_id=args.camera,
            case_number=args.case, limit=args.limit))
    finally:
        conn.close()
    if not result["allowed"]:
        print(f"query refused ({result['reason']}): purpose {result['purpose']!r}; allowed purposes:"
              f" {', '.join(config.retention.purposes)}; this refusal is audited", file=sys.stderr)
        if args.json:
            emit({"event": "query_refused", **{k: v for k, v in result.items() if k != "reads"}})
        return EXIT_FAILED
    reads = result["reads"]
    people = [{**r, "captured_at": utc(r["captured_at"]), "position": position(r.get("lat"), r.get("lon")),
               "hit_lists": ",".join(h["list_name"] for h in r.get("hits", [])) or None} for r in reads]
    show(reads if args.json else people, READ_COLUMNS, as_json=args.json, event="read",
         empty="no stored reads match", summary={"event": "query", "results": len(reads),
                                                 "audit_id": result["audit_id"]})
    return EXIT_OK


def register(sub) -> None:
    p = sub.add_parser("purge", help="apply the retention rule now: delete what must go, report what stays and why")
    add_common(p)
    add_access_arguments(p, provisioning=True)
    p.add_argument("--dry-run", action="store_true", help="decide and count, delete nothing")
    p.set_defaults(func=cmd_purge)

    hold = sub.add_parser("hold", help="preservation holds (the Data Retention Request Log)")
    hs = hold.add_subparsers(dest="hold_command", required=True)
    add = hs.add_parser("add", help="record a preservation request (form ALPR-1) or search warrant")
    add_common(add)
    add.add_argument("--kind", choices=["preservation", "warrant"], default="preservation")
    add.add_argument("--plate", help="the plate to preserve (required for a preservation request)")
    add.add_argument("--camera", help="camera id (default: every camera of the unit)")
    add.add_argument("--unit", help="unit id (default: this unit)")
    add.add_argument("--from", dest="start", required=True, type=when_arg(), help="start of the period held (UTC)")
    add.add_argument("--to", dest="end", required=True, type=when_arg(True), help="end of the period held (UTC)")
    add.add_argument("--case", required=True, help="case number")
    add.add_argument("--officer", required=True, help="requesting officer")
    add.add_argument("--agency", required=True, help="requesting agency")
    add.add_argument("--statement", required=True, help="reference of the sworn statement / form / warrant")
    add.add_argument("--parties", help="the case and identity of the parties (required for a preservation request)")
    add.add_argument("--facts", required=True,
                     help="the specific and articulable facts that make the data relevant and material (form ALPR-1 c)")
    add_access_arguments(add)
    renew = hs.add_parser("renew", help="a new request for the same data: one more year from now")
    add_common(renew)
    renew.add_argument("id", help="hold id (or a unique prefix)")
    renew.add_argument("--statement", help="reference of the new request")
    add_access_arguments(renew)
    release = hs.add_parser("release", help="the data is no longer needed")
    add_common(release)
    release.add_argument("id", help="hold id (or a unique prefix)")
    release.add_argument("--reason")
    add_access_arguments(release)
    lst = hs.add_parser("list", help="the Data Retention Request Log")
    add_common(lst)
    add_access_arguments(lst)
    lst.add_argument("--status", choices=["active", "expired", "released"])
    hold.set_defaults(func=cmd_hold)

    audit = sub.add_parser("audit", help="the hash-chained audit log")
    aus = audit.add_subparsers(dest="audit_command", required=True)
    verify = aus.add_parser("verify", help="detect edited, inserted, deleted or reordered entries (exit 1)")
    add_common(verify)
    add_access_arguments(verify, provisioning=True, system=True)
    verify.set_defaults(func=cmd_audit_verify)
    init_key = aus.add_parser("init-key", help="provisioning: create the forward-secure MAC key; the initial key"
                                               " goes to --out for the agency, never kept on the unit")
    add_common(init_key)
    add_access_arguments(init_key, provisioning=True)
    init_key.add_argument("--out", type=Path, required=True, help="the agency's key file (created 0600, never"
                                                                  " overwritten)")
    init_key.set_defaults(func=cmd_audit_init_key)

    agency = sub.add_parser("agency", help="the agency's side: checks run with what only the agency holds")
    ags = agency.add_subparsers(dest="agency_command", required=True)
    va = ags.add_parser("verify-audit", help="check a unit's audit log with the initial key: names the first bad"
                                              " entry (exit 1)")
    va.add_argument("--key", type=Path, required=True, help="the key file from `audit init-key`")
    va.add_argument("target", type=existing_path("file or folder"),
                    help="a unit's data dir, its alpr.db, or a JSONL of its synced audit stream")
    va.add_argument("--stream", type=existing_path(), help="with a database: the JSONL of the audit stream the agency"
                                                           " received; an anchor past an entry it never received is"
                                                           " reported")
    va.add_argument("--max-key-steps", type=number(1, 10 ** 12), default=MAX_KEY_STEPS,
                    help=f"derive keys at most this far past the initial one (default {MAX_KEY_STEPS:,}, ~4 s);"
                         " a seq further is reported as seq_implausible")
    va.add_argument("--json", action="store_true", help="one JSON object per line")
    va.set_defaults(func=cmd_agency_verify_audit)

    maint = sub.add_parser("maintenance", help="maintenance and calibration log (kept for the life of the unit)")
    ms = maint.add_subparsers(dest="maint_command", required=True)
    madd = ms.add_parser("add", help="record maintenance work")
    add_common(madd)
    add_access_arguments(madd, provisioning=True)
    madd.add_argument("--kind", required=True, choices=["repair", "calibration", "software_update", "inspection",
                                                        "out_of_service", "back_in_service", "other"])
    madd.add_argument("--technician", help="who did the work, when not the --user recording it")
    madd.add_argument("--description", required=True)
    madd.add_argument("--component", default="unit", help="unit, camera:front, gps, disk, ...")
    madd.add_argument("--at", type=when_arg(), help="when the work was done (default now)")
    madd.add_argument("--out-of-service", action="store_true", help="the work took the part out of service")
    mlist = ms.add_parser("list", help="maintenance records and recorded malfunctions")
    add_common(mlist)
    add_access_arguments(mlist, provisioning=True)
    mlist.add_argument("--from", dest="start", type=when_arg())
    mlist.add_argument("--to", dest="end", type=when_arg(True))
    maint.set_defaults(func=cmd_maintenance)

    rep = sub.add_parser("report", help="use and effectiveness report for a period")
    add_common(rep)
    add_access_arguments(rep)
    rep.add_argument("--from", dest="start", required=True, type=when_arg())
    rep.add_argument("--to", dest="end", required=True, type=when_arg(True), help="inclusive when a date")
    rep.add_argument("--format", choices=["json", "csv"], default="json", help="csv for a spreadsheet (--json wins)")
    rep.add_argument("--no-store", action="store_true", help="print only: do not store, sign or sync this report")
    rep.set_defaults(func=cmd_report)

    q = sub.add_parser("query", help="search stored reads; states user and purpose, always audited")
    add_common(q)
    add_access_arguments(q)
    q.add_argument("--purpose", required=True, help="one of retention.purposes in the config")
    q.add_argument("--plate", help="plate, * and ? wildcards allowed")
    q.add_argument("--from", dest="start", type=when_arg())
    q.add_argument("--to", dest="end", type=when_arg(True))
    q.add_argument("--camera")
    q.add_argument("--case", help="case or incident number (recorded with the query)")
    q.add_argument("--limit", type=number(1, 10 ** 9), default=1000)
    q.set_defaults(func=cmd_query)
