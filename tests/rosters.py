"""Test helper: install an agency roster through the real store function (firmware.roster.store_roster),
as the signed downlink does, so tests exercise the same rows the access rule reads."""

from __future__ import annotations

from datetime import date, datetime, timezone

from firmware.roster import store_roster
from firmware.storage.db import transaction
from firmware.sync.downlink import Roster

TRAINED = date(2026, 1, 10)          # recent enough for any test clock up to its recertification period
AT = datetime(2026, 1, 10, tzinfo=timezone.utc)

# one user per role, trained; plus a removed and an untrained officer
STAFF = [
    {"id": "ofc.ray", "name": "Ray", "roles": ["officer"]},
    {"id": "sgt.sue", "name": "Sue", "roles": ["supervisor"]},
    {"id": "adm.ann", "name": "Ann", "roles": ["administrator"]},
    {"id": "tech.tim", "name": "Tim", "roles": ["technician"]},
    {"id": "aud.al", "name": "Al", "roles": ["auditor"]},
    {"id": "ofc.gone", "name": "Gone", "roles": ["officer"], "active": False},
    {"id": "ofc.new", "name": "New", "roles": ["officer"], "trained_on": None},
]


def install_roster(conn, users=None, *, seq: int = 1, at: datetime = AT, recert_days: int | None = None) -> dict:
    """Store `users` (dicts in the downlink's RosterUser shape; trained on TRAINED unless they say)."""
    users = [{"trained_on": TRAINED, **u} for u in (STAFF if users is None else users)]
    roster = Roster.model_validate({"users": users, "recert_days": recert_days})
    return transaction(conn, lambda c: store_roster(c, roster, seq=seq, at=at))


def provisioned(data_dir, users=None, **kw):
    """A unit data dir as the daemon or `alpr-unit provision` leaves it, with the agency's roster."""
    from firmware.storage.db import open_database

    conn = open_database(data_dir)
    try:
        install_roster(conn, users, **kw)
    finally:
        conn.close()
    return data_dir
