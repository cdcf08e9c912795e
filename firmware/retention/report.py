"""The ALPR administrator's periodic report: use and effectiveness of the unit over a period.

Both general orders ask for at least annual audits covering user access, queries, successful uses
(arrest, recovery, seizure), preservation requests and maintenance. Everything here is computed
from the unit's own records: the audit log (which outlives the reads it talks about), the hold
log, the purge runs and the events table. Read-only.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections import Counter, defaultdict
from datetime import datetime

from firmware.clock import iso_utc
from firmware.retention.maintenance import interval_events, service_intervals

SUCCESS = ("arrest", "recovery", "recovered", "seizure", "located")


def _detail(text: str) -> dict:
    try:
        value = json.loads(text or "{}")
        return value if isinstance(value, dict) else {}
    except ValueError:
        return {}


def build_report(conn: sqlite3.Connection, start: datetime, end: datetime, now: datetime) -> dict:
    lo, hi = iso_utc(start), iso_utc(end)
    logins: dict[str, Counter] = defaultdict(Counter)
    queries, refused = Counter(), defaultdict(Counter)
    audited_dispositions, events, manual_hotlist = Counter(), Counter(), Counter()
    for row in conn.execute("SELECT event, user, purpose, detail FROM audit_log WHERE at >= ? AND at < ?", (lo, hi)):
        event, user = row["event"], row["user"] or "(none)"
        events[event] += 1
        if event in ("login_ok", "login_failed", "logout"):
            logins[user][event] += 1
        elif event == "query":
            queries[row["purpose"] or "(none)"] += 1
        elif event == "query_refused":
            refused[row["purpose"] or "(none)"][_detail(row["detail"]).get("reason", "refused")] += 1
        elif event.startswith("hotlist.manual") or event == "hotlist_change":
            manual_hotlist[event] += 1
        elif event in ("hit_disposition", "disposition"):
            audited_dispositions[str(_detail(row["detail"]).get("disposition", "unknown")).lower()] += 1
    stored = Counter()
    by_list = Counter()
    hits_total = 0
    for row in conn.execute("SELECT list_name, disposition FROM hits WHERE created_at >= ? AND created_at < ?",
                            (lo, hi)):
        hits_total += 1
        by_list[row["list_name"]] += 1
        stored[(row["disposition"] or "none").lower()] += 1
    dispositions = audited_dispositions or stored
    holds = {
        "added": conn.execute("SELECT count(*) FROM holds WHERE created_at >= ? AND created_at < ?",
                              (lo, hi)).fetchone()[0],
        "renewed": conn.execute("SELECT count(*) FROM holds WHERE renewed_at >= ? AND renewed_at < ?",
                                (lo, hi)).fetchone()[0],
        "released": conn.execute("SELECT count(*) FROM holds WHERE released_at >= ? AND released_at < ?",
                                 (lo, hi)).fetchone()[0],
        "active_at_end": conn.execute(
            "SELECT count(*) FROM holds WHERE created_at < ? AND expires_at > ? AND (released_at IS NULL OR"
            " released_at > ?)", (hi, hi, hi)).fetchone()[0],
    }
    purges = {"runs": 0, "reads_purged": 0, "reads_held": 0, "lost_unsynced": 0, "audit_purged": 0,
              "hits_purged_by_disposition": Counter()}
    for (text,) in conn.execute(
            "SELECT report FROM purge_runs WHERE started_at >= ? AND started_at < ? ORDER BY started_at", (lo, hi)):
        r = _detail(text)
        purges["runs"] += 1
        purges["reads_purged"] += r.get("reads", {}).get("purged", 0)
        purges["reads_held"] = r.get("held", 0)  # the latest run's figure
        purges["lost_unsynced"] += r.get("lost_unsynced", 0)
        purges["audit_purged"] += r.get("audit", {}).get("purged", 0)
        purges["hits_purged_by_disposition"].update(r.get("hits_purged_by_disposition", {}))
    purges["hits_purged_by_disposition"] = dict(purges["hits_purged_by_disposition"])
    malfunctions = Counter(r[0] for r in conn.execute(
        "SELECT source FROM events WHERE kind = 'malfunction' AND at >= ? AND at < ?", (lo, hi)))
    maintenance = Counter(r[0] for r in conn.execute(
        "SELECT kind FROM maintenance_log WHERE at >= ? AND at < ?", (lo, hi)))
    return {
        "event": "report", "from": lo, "to": hi, "generated_at": iso_utc(now),
        "logins_per_user": {u: dict(c) for u, c in sorted(logins.items())},
        "queries_by_purpose": dict(queries),
        "queries_refused_by_purpose": {p: dict(c) for p, c in refused.items()},
        "hits": {"total": hits_total, "by_list": dict(by_list), "by_disposition": dict(dispositions),
                 "successful_uses": sum(n for d, n in dispositions.items() if d in SUCCESS)},
        "manual_hotlist_changes": dict(manual_hotlist),
        "holds": holds,
        "purges": purges,
        "malfunctions_by_source": dict(malfunctions),
        "out_of_service": service_intervals(interval_events(conn, lo, hi), min(now, end)),
        "maintenance_by_kind": dict(maintenance),
        "audit_events": dict(events),
    }


def report_csv(report: dict) -> str:
    """Flatten to section,key,subkey,value rows: opens in any spreadsheet."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["section", "key", "subkey", "value"])
    for section, value in report.items():
        if isinstance(value, dict):
            for key, sub in value.items():
                if isinstance(sub, dict):
                    for subkey, v in sub.items():
                        w.writerow([section, key, subkey, v])
                else:
                    w.writerow([section, key, "", sub])
        elif isinstance(value, list):
            for i, item in enumerate(value):
                for key, v in item.items():
                    w.writerow([section, i, key, v])
        else:
            w.writerow([section, "", "", value])
    return out.getvalue()
