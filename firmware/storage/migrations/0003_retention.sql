-- Retention, preservation and audit (issue 7).

-- The Data Retention Request Log: one row per preservation request or search warrant. Never deleted:
-- released and expired holds stay as the record of what was preserved, for whom and why.
CREATE TABLE holds (
    id                  TEXT PRIMARY KEY,
    kind                TEXT NOT NULL DEFAULT 'preservation',  -- preservation|warrant
    unit_id             TEXT,                                  -- NULL: any unit (this one)
    camera_id           TEXT,                                  -- NULL: every camera of the unit
    plate               TEXT,                                  -- normalised; NULL only for a warrant
    start_at            TEXT NOT NULL,                         -- captured_at range held, UTC, inclusive
    end_at              TEXT NOT NULL,
    case_number         TEXT NOT NULL,
    requesting_officer  TEXT NOT NULL,
    agency              TEXT NOT NULL,
    statement_ref       TEXT NOT NULL,                         -- sworn statement / form ALPR-1 / warrant reference
    parties             TEXT,                                  -- the case and identity of the parties (reference)
    source              TEXT NOT NULL DEFAULT 'cli',           -- cli|downlink
    created_at          TEXT NOT NULL,
    created_by          TEXT,
    renewed_at          TEXT,
    renewals            INTEGER NOT NULL DEFAULT 0,
    expires_at          TEXT NOT NULL,
    released_at         TEXT,
    released_by         TEXT,
    release_reason      TEXT
);
CREATE INDEX holds_expires ON holds(expires_at);

-- Where the audit chain starts once its oldest entries have been purged (after sync and their own
-- retention): the seq and hash of the last purged entry. One row.
CREATE TABLE audit_anchor (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    seq       INTEGER NOT NULL,
    hash      TEXT NOT NULL,
    moved_at  TEXT NOT NULL
);
INSERT INTO audit_anchor (id, seq, hash, moved_at) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', '1970-01-01T00:00:00.000000Z');

-- Only entries at or before the anchor may be deleted: purge moves the anchor first, in the same
-- transaction, and the move is itself audited. `audit verify` checks that both triggers exist.
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN OLD.seq > (SELECT seq FROM audit_anchor WHERE id = 1)
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

CREATE TRIGGER audit_anchor_no_rewind BEFORE UPDATE ON audit_anchor
WHEN NEW.seq < OLD.seq
BEGIN SELECT RAISE(ABORT, 'audit anchor only moves forward'); END;

-- Maintenance and calibration records, kept for the life of the unit (never purged).
CREATE TABLE maintenance_log (
    id            TEXT PRIMARY KEY,
    at            TEXT NOT NULL,                 -- when the work was done
    kind          TEXT NOT NULL,                 -- repair|calibration|software_update|inspection|out_of_service|back_in_service|other
    component     TEXT NOT NULL DEFAULT 'unit',  -- unit, camera:front, gps, disk, ...
    technician    TEXT NOT NULL,
    description   TEXT NOT NULL,
    out_of_service INTEGER NOT NULL DEFAULT 0,   -- the work took the unit or component out of service
    recorded_at   TEXT NOT NULL
);
CREATE INDEX maintenance_at ON maintenance_log(at);

-- One row per purge run (also audited): what was kept and why, for reports.
CREATE TABLE purge_runs (
    id           TEXT PRIMARY KEY,
    started_at   TEXT NOT NULL,
    finished_at  TEXT NOT NULL,
    dry_run      INTEGER NOT NULL,
    report       TEXT NOT NULL                   -- JSON, the same object `alpr-unit purge --json` prints
);
CREATE INDEX purge_runs_started ON purge_runs(started_at);

CREATE INDEX events_kind_at ON events(kind, at);
