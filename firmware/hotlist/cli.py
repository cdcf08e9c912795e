"""`alpr-unit hotlist import|show|add|extend|remove|match`: the hotlist tools of a unit.

Every command is a login and an access decision (firmware.access; a manual entry's reason passes the
same purpose screen as a query, since adding one also searches the stored reads). Every change goes
through the same store functions as sync would use, in one transaction, audited with who and why.
`match` loads the lists exactly as the daemon does and prints how each hit matched, so an officer can
check a disputed hit against the photo.
"""

from __future__ import annotations

import sys
from pathlib import Path

from firmware.access_cli import add_access_arguments, open_with_access
from firmware.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_common, emit


def register(sub) -> None:
    hot = sub.add_parser("hotlist", help="hotlists: import, manual entries, match")
    hs = hot.add_subparsers(dest="hotlist_command", required=True)

    p = hs.add_parser("import", help="load a hotlist file as a new version of a list")
    add_common(p)
    p.add_argument("file", type=Path, help="list file (delimited, fixed-width, CSV with header, NCIC CODE/value)")
    p.add_argument("--list", required=True, dest="list_name", help="list name")
    p.add_argument("--format", default=None, help="SPEC (e.g. 'delimited delim=; cols=plate,state,category') or a "
                                                  "name from hotlist.formats; default: guess from the first line")
    p.add_argument("--mode", choices=["replace", "add", "remove"], default="replace",
                   help="replace: the file is the whole list; add/remove: incremental")
    p.add_argument("--source", choices=["ncic", "agency"], default="agency", help="where the list comes from")
    p.add_argument("--category", default=None, help="category of entries that name none (e.g. 'stolen vehicle')")
    p.add_argument("--priority", type=int, default=50, help="0 (highest) .. 100")
    p.add_argument("--alert", choices=["audible", "visual", "silent"], default="audible")
    add_access_arguments(p)
    p.add_argument("--allow-empty", action="store_true", help="let a replace load leave the list empty")
    p.set_defaults(func=cmd_import)

    p = hs.add_parser("show", help="lists with version, age and size; --manual: the manual entries")
    add_common(p)
    p.add_argument("--manual", action="store_true", help="show manual entries instead of lists")
    p.add_argument("--all", action="store_true", help="with --manual: include expired entries")
    add_access_arguments(p, provisioning=True)
    p.set_defaults(func=cmd_show)

    p = hs.add_parser("add", help="add a manual entry (reason required; expires after 30 days by default)")
    add_common(p)
    p.add_argument("plate")
    p.add_argument("--state", default=None)
    p.add_argument("--reason", required=True, help="why this plate is wanted (audited)")
    p.add_argument("--category", default=None)
    p.add_argument("--days", type=int, default=None, help="lifetime in days (default hotlist.manual_entry_days)")
    add_access_arguments(p)
    p.add_argument("--list", dest="list_name", default="manual", help="manual list name")
    p.set_defaults(func=cmd_add)

    p = hs.add_parser("extend", help="extend a manual entry (justification required)")
    add_common(p)
    p.add_argument("entry_id", type=int)
    p.add_argument("--reason", "--justification", dest="justification", required=True,
                   help="the specific justification for keeping the entry (audited)")
    p.add_argument("--days", type=int, default=None, help="new lifetime from now (default manual_entry_days)")
    add_access_arguments(p)
    p.set_defaults(func=cmd_extend)

    p = hs.add_parser("remove", help="remove a manual entry (reason required)")
    add_common(p)
    p.add_argument("entry_id", type=int)
    p.add_argument("--reason", required=True)
    add_access_arguments(p)
    p.set_defaults(func=cmd_remove)

    p = hs.add_parser("match", help="match one plate against the unit's lists and say how it matched")
    add_common(p)
    p.add_argument("plate")
    p.add_argument("--state", default=None)
    add_access_arguments(p)
    p.set_defaults(func=cmd_match)


def _run_change(args, job, action: str, *, purpose: str | None = None, terms: dict | None = None) -> int:
    from firmware.clock import SystemClock
    from firmware.hotlist.formats import FormatError
    from firmware.hotlist.store import HotlistError
    from firmware.storage.db import transaction

    config, conn, decision = open_with_access(args, action, purpose=purpose, terms=terms)
    try:
        if not decision.ok:
            return EXIT_FAILED
        result = transaction(conn, lambda c: job(c, config, SystemClock().utc()))
    except (HotlistError, FormatError) as exc:
        print(f"hotlist: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        conn.close()
    emit(result, args.json)
    return EXIT_OK


def cmd_import(args) -> int:
    from firmware.clock import SystemClock
    from firmware.hotlist.formats import FormatError
    from firmware.hotlist.staged import import_hotlist_staged
    from firmware.hotlist.store import HotlistError, import_hotlist
    from firmware.storage.db import transaction

    if not args.file.is_file():
        print(f"hotlist: cannot read {args.file}", file=sys.stderr)
        return EXIT_USAGE
    config, conn, decision = open_with_access(args, "hotlist.import", terms={
        "list": args.list_name, "file": args.file.name, "mode": args.mode})
    if not decision.ok:
        conn.close()
        return EXIT_FAILED
    common = dict(name=args.list_name, fmt=args.format, list_source=args.source, category=args.category,
                  priority=args.priority, alert=args.alert, at=SystemClock().utc(), unit_id=config.unit.id,
                  user=args.user, options=config.hotlist.match_options(),
                  formats=config.hotlist.formats, allow_empty=args.allow_empty)
    try:
        if args.mode == "replace":   # in short transactions: a running daemon's writer never waits long
            report = import_hotlist_staged(lambda job: transaction(conn, job), args.file, **common)
        else:
            report = transaction(conn, lambda c: import_hotlist(c, args.file, mode=args.mode, **common))
    except (HotlistError, FormatError) as exc:
        print(f"hotlist: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (IsADirectoryError, PermissionError) as exc:   # the list file, not the unit's storage
        print(f"hotlist: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        conn.close()
    emit(report.as_dict(), args.json)
    return EXIT_OK


def _days(args, h) -> int:
    """--days as given (0 is refused by the range check, not read as "the default")."""
    return h.manual_entry_days if args.days is None else args.days


def cmd_add(args) -> int:
    from firmware.hotlist.manual import add_manual

    def job(conn, config, at):
        h = config.hotlist
        return add_manual(conn, plate=args.plate, state=args.state, reason=args.reason, user=args.user, at=at,
                          unit_id=config.unit.id,
                          days=_days(args, h), max_days=h.manual_entry_days,
                          category=args.category, list_name=args.list_name, priority=h.manual_priority,
                          alert=h.manual_alert, options=h.match_options())

    return _run_change(args, job, "hotlist.manual_add", purpose=args.reason,
                       terms={"plate": args.plate, "state": args.state, "list": args.list_name})


def cmd_extend(args) -> int:
    from firmware.hotlist.manual import extend_manual

    def job(conn, config, at):
        h = config.hotlist
        return extend_manual(conn, args.entry_id, days=_days(args, h),
                             justification=args.justification, user=args.user, at=at,
                             unit_id=config.unit.id, max_days=h.manual_entry_days)

    return _run_change(args, job, "hotlist.manual_extend", purpose=args.justification,
                       terms={"entry_id": args.entry_id, "days": args.days})


def cmd_remove(args) -> int:
    from firmware.hotlist.manual import remove_manual

    def job(conn, config, at):
        return remove_manual(conn, args.entry_id, reason=args.reason, user=args.user, at=at,
                             unit_id=config.unit.id)

    return _run_change(args, job, "hotlist.manual_remove", purpose=args.reason, terms={"entry_id": args.entry_id})


LIST_COLUMNS = [("name", "list"), ("source", "source"), ("category", "category"), ("priority", "prio"),
                ("alert", "alert"), ("version", "version"), ("entries", "entries"), ("loaded", "loaded (UTC)"),
                ("age", "age"), ("stale", "stale")]
MANUAL_COLUMNS = [("id", "id"), ("plate", "plate"), ("state", "state"), ("list", "list"), ("added_by", "added by"),
                  ("added", "added (UTC)"), ("expires", "expires (UTC)"), ("expired", "expired"), ("reason", "reason")]


def cmd_show(args) -> int:
    from firmware.clock import SystemClock, parse_iso_utc
    from firmware.hotlist.manual import manual_entries
    from firmware.hotlist.store import list_rows
    from firmware.tables import age, show, utc

    action = "hotlist.manual_view" if args.manual else "hotlist.view"
    config, conn, decision = open_with_access(args, action, terms={"manual": args.manual, "all": args.all})
    now = SystemClock().utc()
    try:
        if not decision.ok:
            return EXIT_FAILED
        if args.manual:
            rows = manual_entries(conn, at=now, include_expired=args.all)
            people = [{**r, "added": utc(r["added_at"]), "expires": utc(r["expires_at"])} for r in rows]
            show(rows if args.json else people, MANUAL_COLUMNS, as_json=args.json,
                 empty="no manual entries" if args.all else "no current manual entries (--all shows expired ones)")
            return EXIT_OK
        rows = []
        for row in list_rows(conn):
            age_s = (now - parse_iso_utc(row["loaded_at"])).total_seconds() if row["loaded_at"] else None
            stale = row["source"] != "manual" and (age_s is None or age_s > config.hotlist.max_age_hours * 3600)
            rows.append({"name": row["name"], "source": row["source"], "category": row["category"],
                         "priority": row["priority"], "alert": row["alert"], "version": row["version"],
                         "entries": row["entries"], "sha256": row["sha256"], "loaded_at": row["loaded_at"],
                         "age_s": None if age_s is None else round(age_s, 1), "stale": stale})
    finally:
        conn.close()
    people = [{**r, "loaded": utc(r["loaded_at"]), "age": age(r["age_s"])} for r in rows]
    show(rows if args.json else people, LIST_COLUMNS, as_json=args.json, empty="no hotlists loaded")
    return EXIT_FAILED if any(r["stale"] for r in rows) else EXIT_OK


def cmd_match(args) -> int:
    from firmware.clock import SystemClock
    from firmware.hotlist.match import Match, describe, normalise_plate
    from firmware.hotlist.service import HotlistService
    from firmware.tables import age

    config, conn, decision = open_with_access(args, "hotlist.match", terms={"plate": args.plate,
                                                                            "state": args.state})
    try:
        if not decision.ok:
            return EXIT_FAILED
        loaded = [r[0] for r in conn.execute("SELECT DISTINCT l.name FROM hotlists l JOIN hotlist_entries e"
                                             " ON e.list_id = l.id WHERE l.staging = 0")]
    finally:
        conn.close()
    read = normalise_plate(args.plate)
    if not loaded:
        print("no hotlists loaded on this unit: nothing to match against", file=sys.stderr)
        if args.json:
            emit({"read": read, "state": (args.state or "").upper() or None, "hits": [], "lists": 0})
        return EXIT_FAILED
    service = HotlistService(config.hotlist, config.unit.data_dir, SystemClock(), config.unit.id)
    service.start()
    try:
        hits = service.match(args.plate, args.state)
    finally:
        service.stop()
    out = []
    for h in hits:
        out.append({"list": h.list_name, "plate": h.entry_plate, "state": h.entry_state, "category": h.category,
                    "priority": h.priority, "match": h.match, "positions": list(h.positions), "possible": h.possible,
                    "alert": h.alert, "list_version": h.list_version, "list_age_s": h.list_age_s, "read": read,
                    "why": describe(Match(h.match, h.positions, h.possible), h.entry_plate, read),
                    "annotations": h.annotations})
    if args.json:
        emit({"read": read, "state": (args.state or "").upper() or None, "hits": out, "lists": len(loaded)})
    else:
        if not out:
            print(f"{read}: no hits on {len(loaded)} loaded list(s)")
        for hit in out:
            print(f"[{hit['priority']:3d}] {hit['list']}: {hit['why']} ({hit['category'] or '-'}, "
                  f"{hit['alert']}, list age {age(hit['list_age_s'])})")
    return EXIT_OK
