-- The officer's verification of a hit as steps the record can prove (issue 16): each check, each
-- disposition (amendments keep history) and each outcome is its own append-only row, stamped with the
-- user and time, audited and queued for sync. `hits.disposition` keeps the latest disposition so older
-- readers (purge counts, queries) keep working.
ALTER TABLE hits ADD COLUMN annotations TEXT NOT NULL DEFAULT '{}';  -- the entry's NCIC fields and reason at hit time
ALTER TABLE hits ADD COLUMN unacknowledged_at TEXT;                  -- set once when nobody answered in time

CREATE TABLE hit_checks (
    id          TEXT PRIMARY KEY,
    hit_id      TEXT NOT NULL REFERENCES hits(id) ON DELETE CASCADE,
    check_name  TEXT NOT NULL,        -- plate | state | dispatch
    result      TEXT NOT NULL,        -- plate/state: match | mismatch | not_visible; dispatch: confirmed | not_confirmed | not_current
    note        TEXT,
    user        TEXT NOT NULL,
    at          TEXT NOT NULL,
    audit_id    TEXT NOT NULL
);
CREATE INDEX hit_checks_hit ON hit_checks(hit_id, at);

CREATE TABLE hit_dispositions (
    id          TEXT PRIMARY KEY,
    hit_id      TEXT NOT NULL REFERENCES hits(id) ON DELETE CASCADE,
    disposition TEXT NOT NULL,
    kind        TEXT NOT NULL,        -- reject | confirm | none
    note        TEXT,
    amends      TEXT,                 -- the id of the disposition this one replaces
    amend_reason TEXT,
    user        TEXT NOT NULL,
    at          TEXT NOT NULL,
    audit_id    TEXT NOT NULL
);
CREATE INDEX hit_dispositions_hit ON hit_dispositions(hit_id, at);

CREATE TABLE hit_outcomes (
    id          TEXT PRIMARY KEY,
    hit_id      TEXT NOT NULL REFERENCES hits(id) ON DELETE CASCADE,
    outcome     TEXT NOT NULL,        -- arrest | seizure | recovery
    note        TEXT,
    user        TEXT NOT NULL,
    at          TEXT NOT NULL,
    audit_id    TEXT NOT NULL
);
CREATE INDEX hit_outcomes_hit ON hit_outcomes(hit_id);

CREATE TRIGGER hit_checks_no_update BEFORE UPDATE ON hit_checks
BEGIN SELECT RAISE(ABORT, 'hit_checks is append-only'); END;
CREATE TRIGGER hit_dispositions_no_update BEFORE UPDATE ON hit_dispositions
BEGIN SELECT RAISE(ABORT, 'hit_dispositions is append-only'); END;
CREATE TRIGGER hit_outcomes_no_update BEFORE UPDATE ON hit_outcomes
BEGIN SELECT RAISE(ABORT, 'hit_outcomes is append-only'); END;
