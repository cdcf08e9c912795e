"""`alpr-unit hotlist import|show|add|extend|remove|match`: the hotlist tools of a unit.

Every change goes through the same store functions as sync would use, in one transaction, audited with
who and why. `match` loads the lists exactly as the daemon does and prints how each hit matched, so an
officer or technician can check a disputed hit against the photo.
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from firmware.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_common, emit, load_unit_config


def _default_user() -> str:
    try:
        return os.environ.get("SUDO_USER") or getpass.getuser()
    except Exception:
        return "unknown"


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
    p.add_argument("--user", default=None, help="who loads it (audit); default: the login name")
    p.add_argument("--allow-empty", action="store_true", help="let a replace load leave the list empty")
    p.set_defaults(func=cmd_import)

    p = hs.add_parser("show", help="lists with version, age and size; --manual: the manual entries")
    add_common(p)
    p.add_argument("--manual", action="store_true", help="show manual entries instead of lists")
    p.add_argument("--all", action="store_true", help="with --manual: include expired entries")
    p.set_defaults(func=cmd_show)

    p = hs.add_parser("add", help="add a manual entry (reason required; expires after 30 days by default)")
    add_common(p)
    p.add_argument("plate")
    p.add_argument("--state", default=None)
    p.add_argument("--reason", required=True, help="why this plate is wanted (audited)")
    p.add_argument("--category", default=None)
    p.add_argument("--days", type=int, default=None, help="lifetime in days (default hotlist.manual_entry_days)")
    p.add_argument("--user", default=None, help="who adds it; default: the login name")
    p.add_argument("--list", dest="list_name", default="manual", help="manual list name")
    p.set_defaults(func=cmd_add)

    p = hs.add_parser("extend", help="extend a manual entry (justification required)")
    add_common(p)
    p.add_argument("entry_id", type=int)
    p.add_argument("--justification", required=True)
    p.add_argument("--days", type=int, default=None, help="new lifetime from now (default manual_entry_days)")
    p.add_argument("--user", default=None)
    p.set_defaults(func=cmd_extend)

    p = hs.add_parser("remove", help="remove a manual entry (reason required)")
    add_common(p)
    p.add_argument("entry_id", type=int)
    p.add_argument("--reason", required=True)
    p.add_argument("--user", default=None)
    p.set_defaults(func=cmd_remove)

    p = hs.add_parser("match", help="match one plate against the unit's lists and say how it matched")
    add_common(p)
    p.add_argument("plate")
    p.add_argument("--state", default=None)
    p.set_defaults(func=cmd_match)


def _run_change(args, job) -> int:
    from firmware.clock import SystemClock
    from firmware.hotlist.formats import FormatError
    from firmware.hotlist.store import HotlistError
    from firmware.storage.db import open_database, transaction

    config = load_unit_config(args)
    conn = open_database(config.unit.data_dir)
    try:
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
    from firmware.storage.db import open_database, transaction

    if not args.file.is_file():
        print(f"hotlist: cannot read {args.file}", file=sys.stderr)
        return EXIT_USAGE
    config = load_unit_config(args)
    common = dict(name=args.list_name, fmt=args.format, list_source=args.source, category=args.category,
                  priority=args.priority, alert=args.alert, at=SystemClock().utc(), unit_id=config.unit.id,
                  user=args.user or _default_user(), options=config.hotlist.match_options(),
                  formats=config.hotlist.formats, allow_empty=args.allow_empty)
    conn = open_database(config.unit.data_dir)
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


def cmd_add(args) -> int:
    from firmware.hotlist.manual import add_manual

    def job(conn, config, at):
        h = config.hotlist
        return add_manual(conn, plate=args.plate, state=args.state, reason=args.reason,
                          user=args.user or _default_user(), at=at, unit_id=config.unit.id,
                          days=args.days or h.manual_entry_days, max_days=h.manual_entry_days,
                          category=args.category, list_name=args.list_name, priority=h.manual_priority,
                          alert=h.manual_alert, options=h.match_options())

    return _run_change(args, job)


def cmd_extend(args) -> int:
    from firmware.hotlist.manual import extend_manual

    def job(conn, config, at):
        h = config.hotlist
        return extend_manual(conn, args.entry_id, days=args.days or h.manual_entry_days,
                             justification=args.justification, user=args.user or _default_user(), at=at,
                             unit_id=config.unit.id, max_days=h.manual_entry_days)

    return _run_change(args, job)


def cmd_remove(args) -> int:
    from firmware.hotlist.manual import remove_manual

    def job(conn, config, at):
        return remove_manual(conn, args.entry_id, reason=args.reason, user=args.user or _default_user(), at=at,
                             unit_id=config.unit.id)

    return _run_change(args, job)


def cmd_show(args) -> int:
    from firmware.clock import SystemClock, parse_iso_utc
    from firmware.hotlist.manual import manual_entries
    from firmware.hotlist.store import list_rows
    from firmware.storage.db import open_database

    config = load_unit_config(args)
    conn = open_database(config.unit.data_dir)
    now = SystemClock().utc()
    try:
        if args.manual:
            for entry in manual_entries(conn, at=now, include_expired=args.all):
                emit(entry, args.json)
            return EXIT_OK
        stale_any = False
        for row in list_rows(conn):
            age = (now - parse_iso_utc(row["loaded_at"])).total_seconds() if row["loaded_at"] else None
            stale = row["source"] != "manual" and (age is None or age > config.hotlist.max_age_hours * 3600)
            stale_any |= stale
            emit({"name": row["name"], "source": row["source"], "category": row["category"],
                  "priority": row["priority"], "alert": row["alert"], "version": row["version"],
                  "entries": row["entries"], "sha256": row["sha256"], "loaded_at": row["loaded_at"],
                  "age_s": None if age is None else round(age, 1), "stale": stale}, args.json)
    finally:
        conn.close()
    return EXIT_FAILED if stale_any else EXIT_OK


def cmd_match(args) -> int:
    from firmware.clock import SystemClock
    from firmware.hotlist.match import describe, normalise_plate
    from firmware.hotlist.service import HotlistService
    from firmware.storage.db import open_database

    config = load_unit_config(args)
    open_database(config.unit.data_dir).close()          # create/migrate so a bare unit answers "no hits"
    service = HotlistService(config.hotlist, config.unit.data_dir, SystemClock(), config.unit.id)
    service.start()
    try:
        hits = service.match(args.plate, args.state)
    finally:
        service.stop()
    read = normalise_plate(args.plate)
    out = []
    for h in hits:
        from firmware.hotlist.match import Match

        out.append({"list": h.list_name, "plate": h.entry_plate, "state": h.entry_state, "category": h.category,
                    "priority": h.priority, "match": h.match, "positions": list(h.positions), "possible": h.possible,
                    "alert": h.alert, "list_version": h.list_version, "list_age_s": h.list_age_s, "read": read,
                    "why": describe(Match(h.match, h.positions, h.possible), h.entry_plate, read),
                    "annotations": h.annotations})
    if args.json:
        emit({"read": read, "state": (args.state or "").upper() or None, "hits": out})
    else:
        if not out:
            print(f"{read}: no hits")
        for hit in out:
            print(f"[{hit['priority']:3d}] {hit['list']}: {hit['why']} ({hit['category'] or '-'}, "
                  f"{hit['alert']}, list age {hit['list_age_s']:.0f} s)")
    return EXIT_OK
