-- Issue 17: a forward-secure MAC chain over the audit log, agency checkpoints, justified anchor moves,
-- and append-only preservation holds.

-- Each entry written once the agency's key is provisioned carries HMAC-SHA256(key_seq, seq|hash).
-- NULL: written before the key existed (covered by the hash chain only; `audit verify` says so).
ALTER TABLE audit_log ADD COLUMN mac TEXT;

-- The evolving key: the key that will MAC entry `seq`. Appending an entry replaces it, in the same
-- transaction, by H("evolve" || key); the old one is gone. The agency keeps the initial key.
CREATE TABLE audit_key (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    first_seq   INTEGER NOT NULL,               -- the first entry MACed (also in the agency's key file)
    seq         INTEGER NOT NULL,               -- the entry this key MACs next: always last entry + 1
    key         TEXT NOT NULL,                  -- hex, 32 bytes
    created_at  TEXT NOT NULL
);
CREATE TRIGGER audit_key_only_forward BEFORE UPDATE ON audit_key
WHEN NEW.seq <= OLD.seq OR NEW.first_seq != OLD.first_seq
BEGIN SELECT RAISE(ABORT, 'the audit key only evolves forward'); END;
CREATE TRIGGER audit_key_no_delete BEFORE DELETE ON audit_key
BEGIN SELECT RAISE(ABORT, 'the audit key cannot be deleted'); END;

-- What the log looked like when this migration ran: entries up to last_seq are from before the MAC
-- chain, and an anchor at or before anchor_seq needs no purge entry to justify it.
CREATE TABLE audit_legacy (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq    INTEGER NOT NULL,
    anchor_seq  INTEGER NOT NULL,
    migrated_at TEXT NOT NULL
);
INSERT INTO audit_legacy (id, last_seq, anchor_seq, migrated_at)
VALUES (1, coalesce((SELECT max(seq) FROM audit_log), 0), coalesce((SELECT seq FROM audit_anchor WHERE id = 1), 0),
        strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

-- Signed checkpoints from the agency: "we hold your log through entry through_seq, whose hash is head_hash".
CREATE TABLE audit_checkpoints (
    seq          INTEGER PRIMARY KEY,           -- the signed downlink message's sequence number
    through_seq  INTEGER NOT NULL,
    head_hash    TEXT NOT NULL,
    issued_at    TEXT NOT NULL,
    received_at  TEXT NOT NULL
);
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;

-- Holds: the facts of the preservation form and what the hold covered when it was added. The holds row
-- is never changed again: renewals and releases are hold_events rows.
ALTER TABLE holds ADD COLUMN facts TEXT;
ALTER TABLE holds ADD COLUMN covered_reads INTEGER;
ALTER TABLE holds ADD COLUMN covered_images INTEGER;

CREATE TABLE hold_events (
    id             TEXT PRIMARY KEY,
    hold_id        TEXT NOT NULL REFERENCES holds(id),
    at             TEXT NOT NULL,
    action         TEXT NOT NULL CHECK (action IN ('renew', 'release')),
    user           TEXT,
    statement_ref  TEXT,                        -- renew: the new request's reference
    reason         TEXT,                        -- release: why
    expires_at     TEXT,                        -- renew: the new expiry
    source         TEXT NOT NULL DEFAULT 'cli'
);
CREATE INDEX hold_events_hold ON hold_events(hold_id, at);

CREATE TRIGGER holds_no_update BEFORE UPDATE ON holds
BEGIN SELECT RAISE(ABORT, 'holds are append-only: record a hold event'); END;
CREATE TRIGGER holds_no_delete BEFORE DELETE ON holds
BEGIN SELECT RAISE(ABORT, 'holds are never deleted'); END;
CREATE TRIGGER hold_events_no_update BEFORE UPDATE ON hold_events
BEGIN SELECT RAISE(ABORT, 'hold events are append-only'); END;
CREATE TRIGGER hold_events_no_delete BEFORE DELETE ON hold_events
BEGIN SELECT RAISE(ABORT, 'hold events are never deleted'); END;

-- The annual report counts hits over a year, but a hit leaves with its read after local retention. The
-- ledger keeps what the report needs of each hit, and no plate: filled by a trigger as hits are stored.
-- Dispositions, outcomes and unacknowledged marks come from the audit log, which outlives them too.
CREATE TABLE hit_ledger (
    hit_id      TEXT PRIMARY KEY,
    read_id     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    list_name   TEXT NOT NULL,
    category    TEXT,
    list_age_s  REAL,                           -- age of the list version that matched, at the hit
    historical  INTEGER NOT NULL DEFAULT 0,
    alert       TEXT
);
CREATE INDEX hit_ledger_created ON hit_ledger(created_at);
INSERT OR IGNORE INTO hit_ledger (hit_id, read_id, created_at, list_name, category, list_age_s, historical, alert)
SELECT id, read_id, created_at, list_name, category, list_age_s, historical, alert FROM hits;
CREATE TRIGGER hits_to_ledger AFTER INSERT ON hits
BEGIN
    INSERT OR IGNORE INTO hit_ledger (hit_id, read_id, created_at, list_name, category, list_age_s, historical, alert)
    VALUES (NEW.id, NEW.read_id, NEW.created_at, NEW.list_name, NEW.category, NEW.list_age_s, NEW.historical,
            NEW.alert);
END;

-- Reports as generated: the exact body that was signed, its signature, and the key that made it.
CREATE TABLE reports (
    id            TEXT PRIMARY KEY,
    period_from   TEXT NOT NULL,
    period_to     TEXT NOT NULL,
    generated_at  TEXT NOT NULL,
    generated_by  TEXT,
    body          TEXT NOT NULL,                -- canonical JSON (sorted keys): the signed bytes
    signature     TEXT,                         -- base64 Ed25519 over body; NULL: unsigned (no unit key)
    public_key    TEXT                          -- hex of the key that signed
);
CREATE TRIGGER reports_no_update BEFORE UPDATE ON reports
BEGIN SELECT RAISE(ABORT, 'stored reports are not changed'); END;
