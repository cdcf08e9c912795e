-- MQTT sync: replay protection for signed downlink messages, the upload byte budget, the user roster
-- and configuration changes received from the agency (stored after validation, applied by a technician
-- or at the next daemon start).
CREATE TABLE sync_downlink_state (
    stream      TEXT PRIMARY KEY,              -- hotlist:<name> | roster | hold | config
    seq         INTEGER NOT NULL,              -- highest accepted sequence number
    digest      TEXT NOT NULL,                 -- sha256 of the accepted signed body
    accepted_at TEXT NOT NULL
);

CREATE TABLE sync_budget (
    day   TEXT PRIMARY KEY,                    -- UTC date YYYY-MM-DD
    bytes INTEGER NOT NULL DEFAULT 0           -- payload bytes acknowledged by the broker that day
);

CREATE TABLE roster (
    user_id     TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    roles       TEXT NOT NULL DEFAULT '[]',    -- JSON list
    credential  TEXT,                          -- a password/PIN hash as the agency sent it; never a clear secret
    active      INTEGER NOT NULL DEFAULT 1,
    roster_seq  INTEGER NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE config_changes (
    seq         INTEGER PRIMARY KEY,           -- the signed message's sequence number
    received_at TEXT NOT NULL,
    issued_at   TEXT NOT NULL,
    overlay     TEXT NOT NULL,                 -- JSON: nested sections/keys to set, validated against the unit config
    status      TEXT NOT NULL DEFAULT 'pending' -- pending | applied | superseded
);
