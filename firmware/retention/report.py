"""The ALPR administrator's periodic report: use and effectiveness of the unit over a period.

Both general orders ask for at least annual audits: user access (a documented review of the roster:
who is active, who is inactive, whose training is due), queries and refusals, successful uses
(arrest, seizure, recovery), documented verification that information is current (the age of the
hotlist each hit matched), preservation requests and maintenance. Everything is computed from the
unit's own records that outlive the reads: the audit log, the hit ledger (migration 0008), the hold
log, the purge runs and the events table.

Each hit counts once, under its latest disposition (amendments keep their history but do not count
twice); hits nobody disposed of and hits nobody answered in the car are rows of their own.
`store_report` keeps the exact signed bytes, signs them with the unit's Ed25519 key when it has one
(saying so when it does not) and queues the report for sync (outbox kind `report`).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import sqlite3
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

from firmware.clock import iso_utc
from firmware.ids import new_id
from firmware.retention.maintenance import interval_events, service_intervals

OUTCOMES = ("arrest", "seizure", "recovery")
LEGACY_SUCCESS = {"arrest": "arrest", "recovery": "recovery", "recovered": "recovery", "seizure": "seizure"}
STALE_LIST_S = 24 * 3600          # both orders: hotlists refreshed every 24 hours
TRAINING_DUE_WINDOW = timedelta(days=30)
ACTIVITY_EVENTS = ("login_ok", "access", "query")


def _detail(text: str) -> dict:
    try:
        value = json.loads(text or "{}")
        return value if isinstance(value, dict) else {}
    except ValueError:
        return {}


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def hit_section(conn: sqlite3.Connection, lo: str, hi: str) -> dict:
    """Hits created in [lo, hi): each counted once, under its latest disposition."""
    ledger = {r["hit_id"]: dict(r) for r in conn.execute(
        "SELECT hit_id, list_name, list_age_s, historical FROM hit_ledger WHERE created_at >= ? AND created_at < ?",
        (lo, hi))}
    latest: dict[str, str] = {}
    kinds: dict[str, str] = {}
    amendments = 0
    outcomes: set[tuple[str, str]] = set()
    unacknowledged: set[str] = set()
    for event, text in conn.execute("SELECT event, detail FROM audit_log WHERE event IN"
                                    " ('hit_disposition', 'hit_outcome', 'hit_unacknowledged') ORDER BY seq"):
        d = _detail(text)
        hit_id = d.get("hit_id")
        if hit_id not in ledger:
            continue
        if event == "hit_disposition":
            amendments += hit_id in latest
            latest[hit_id] = str(d.get("disposition") or "unknown")
            kinds[hit_id] = str(d.get("kind") or "none")
        elif event == "hit_outcome":
            outcomes.add((hit_id, str(d.get("outcome"))))
        else:
            unacknowledged.add(hit_id)
    for hit_id, disposition in latest.items():  # dispositions of the older schema that meant an outcome
        if disposition in LEGACY_SUCCESS:
            outcomes.add((hit_id, LEGACY_SUCCESS[disposition]))
    by_disposition = Counter(latest.values())
    by_disposition["none"] = sum(1 for h in ledger if h not in latest)
    ages = sorted(h["list_age_s"] for h in ledger.values() if h["list_age_s"] is not None)
    return {
        "total": len(ledger),
        "live": sum(1 for h in ledger.values() if not h["historical"]),
        "historical": sum(1 for h in ledger.values() if h["historical"]),
        "by_list": dict(Counter(h["list_name"] for h in ledger.values())),
        "by_disposition": dict(by_disposition),
        "by_kind": dict(Counter(kinds.get(h, "no_disposition") for h in ledger)),
        "disposition_amendments": amendments,
        "no_disposition": by_disposition["none"],
        "unacknowledged": {"total": len(unacknowledged),
                           "answered_later": sum(1 for h in unacknowledged if h in latest),
                           "never_answered": sum(1 for h in unacknowledged if h not in latest)},
        "outcomes": {o: sum(1 for _, x in outcomes if x == o) for o in OUTCOMES},
        "successful_uses": len({h for h, _ in outcomes}),
        "hotlist_currency": {
            "hits_with_list_age": len(ages),
            "oldest_list_age_s": ages[-1] if ages else None,
            "median_list_age_s": ages[len(ages) // 2] if ages else None,
            "hits_on_list_older_than_24h": sum(1 for a in ages if a > STALE_LIST_S),
            "hits_without_list_age": len(ledger) - len(ages),
        },
    }


def roster_review(conn: sqlite3.Connection, lo: str, hi: str, end: datetime) -> dict:
    """Who may use the unit, who did, and whose training is due (from the agency's roster)."""
    cols = _columns(conn, "roster")
    if not cols:
        return {"roster": "none received"}
    extra = [c for c in ("trained_on", "recert_days") if c in cols]
    rows = [dict(r) for r in conn.execute(f"SELECT user_id, active, roles{''.join(', ' + c for c in extra)}"
                                          " FROM roster ORDER BY user_id")]
    used = {r[0] for r in conn.execute(
        f"SELECT DISTINCT user FROM audit_log WHERE at >= ? AND at < ? AND event IN"
        f" ({','.join('?' * len(ACTIVITY_EVENTS))})", (lo, hi, *ACTIVITY_EVENTS))}
    active = [r for r in rows if r["active"]]
    out = {"users": len(rows), "active": len(active), "inactive": sorted(r["user_id"] for r in rows if not r["active"]),
           "active_without_use_in_period": sorted(r["user_id"] for r in active if r["user_id"] not in used),
           "roles": dict(Counter(role for r in active for role in json.loads(r["roles"] or "[]")))}
    if "trained_on" not in cols:
        out["training"] = "the roster carries no training dates"
        return out
    untrained, lapsed, due = [], [], []
    for r in active:
        if not r["trained_on"]:
            untrained.append(r["user_id"])
            continue
        if r.get("recert_days") is None:
            continue
        expires = date.fromisoformat(r["trained_on"][:10]) + timedelta(days=int(r["recert_days"]))
        if expires < end.date():
            lapsed.append(r["user_id"])
        elif expires <= (end + TRAINING_DUE_WINDOW).date():
            due.append(r["user_id"])
    out["training"] = {"untrained": untrained, "lapsed": lapsed, "due_within_30_days": due,
                       "trained_in_period": sorted(r["user_id"] for r in rows
                                                   if r["trained_on"] and lo[:10] <= r["trained_on"][:10] < hi[:10])}
    return out


def _hold_section(conn: sqlite3.Connection, lo: str, hi: str) -> dict:
    events = Counter(r[0] for r in conn.execute(
        "SELECT action FROM hold_events WHERE at >= ? AND at < ?", (lo, hi)))
    legacy = conn.execute("SELECT count(*) FILTER (WHERE renewed_at >= ? AND renewed_at < ?),"
                          " count(*) FILTER (WHERE released_at >= ? AND released_at < ?) FROM holds",
                          (lo, hi, lo, hi)).fetchone()
    from firmware.retention.holds import all_holds

    active_at_end = sum(1 for h in all_holds(conn) if h["created_at"] < hi and h["expires_at"] > hi
                        and (h["released_at"] is None or h["released_at"] > hi))
    return {"added": conn.execute("SELECT count(*) FROM holds WHERE created_at >= ? AND created_at < ?",
                                  (lo, hi)).fetchone()[0],
            "renewed": events["renew"] + legacy[0], "released": events["release"] + legacy[1],
            "active_at_end": active_at_end}


def build_report(conn: sqlite3.Connection, start: datetime, end: datetime, now: datetime) -> dict:
    lo, hi = iso_utc(start), iso_utc(end)
    logins: dict[str, Counter] = defaultdict(Counter)
    queries, refused = Counter(), defaultdict(Counter)
    events, manual_hotlist = Counter(), Counter()
    for row in conn.execute("SELECT event, user, purpose, detail FROM audit_log WHERE at >= ? AND at < ?", (lo, hi)):
        event, user = row["event"], row["user"] or "(none)"
        events[event] += 1
        if event in ("login_ok", "login_failed", "login_locked", "logout"):
            logins[user][event] += 1
        elif event == "query":
            queries[row["purpose"] or "(none)"] += 1
        elif event == "query_refused":
            refused[row["purpose"] or "(none)"][_detail(row["detail"]).get("reason", "refused")] += 1
        elif event.startswith("hotlist.manual") or event == "hotlist_change":
            manual_hotlist[event] += 1
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
        "roster_review": roster_review(conn, lo, hi, end),
        "queries_by_purpose": dict(queries),
        "queries_refused_by_purpose": {p: dict(c) for p, c in refused.items()},
        "hits": hit_section(conn, lo, hi),
        "manual_hotlist_changes": dict(manual_hotlist),
        "holds": _hold_section(conn, lo, hi),
        "purges": purges,
        "malfunctions_by_source": dict(malfunctions),
        "out_of_service": service_intervals(interval_events(conn, lo, hi), min(now, end)),
        "maintenance_by_kind": dict(maintenance),
        "audit_events": dict(events),
    }


def canonical(report: dict) -> bytes:
    return json.dumps(report, sort_keys=True, separators=(",", ":"), default=str).encode()


def load_signing_key(path: Path | None):
    """The unit's Ed25519 private key (PEM), or None when the unit has none."""
    if path is None:
        return None
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def store_report(conn: sqlite3.Connection, report: dict, *, at: datetime, unit_id: str, user: str | None,
                 signing_key=None) -> dict:
    """Keep, sign and queue one report (inside the caller's transaction); audited. Returns the record."""
    from firmware.retention.audit import append_audit
    from firmware.storage import outbox

    body = canonical(report)
    record = {"id": new_id(), "unit_id": unit_id, "from": report["from"], "to": report["to"],
              "generated_at": iso_utc(at), "generated_by": user, "body": body.decode()}
    if signing_key is None:
        record.update(signature=None, public_key=None,
                      signed="unsigned: this unit has no report signing key (retention.report_signing_key)")
    else:
        from cryptography.hazmat.primitives import serialization

        public = signing_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        record.update(signature=base64.b64encode(signing_key.sign(body)).decode(), public_key=public.hex(),
                      signed="Ed25519")
    conn.execute("INSERT INTO reports (id, period_from, period_to, generated_at, generated_by, body, signature,"
                 " public_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (record["id"], record["from"], record["to"], record["generated_at"], user, record["body"],
                  record["signature"], record["public_key"]))
    outbox.enqueue(conn, "report", record["id"], {"schema": 1, **record}, at)
    append_audit(conn, unit_id=unit_id, event="report", at=at, user=user, purpose="audit",
                 detail={"report_id": record["id"], "from": record["from"], "to": record["to"],
                         "signed": record["signed"], "body_sha256": hashlib.sha256(body).hexdigest()})
    return record


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
