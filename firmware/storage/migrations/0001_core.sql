-- Scan files (reads), hotlist hits, the sync outbox and unit events.
CREATE TABLE reads (
    id                TEXT PRIMARY KEY,          -- uuid4; also the MQTT message id
    unit_id           TEXT NOT NULL,
    camera_id         TEXT NOT NULL,
    plate             TEXT NOT NULL,             -- normalised A-Z0-9
    plate_raw         TEXT NOT NULL,             -- as the recogniser produced it
    state             TEXT,                      -- issuing state when known
    confidence        REAL NOT NULL,
    char_confidences  TEXT NOT NULL,             -- JSON list, one per character
    frames            INTEGER NOT NULL,          -- frames that voted for this read
    box               TEXT NOT NULL,             -- JSON [x, y, w, h] in the best frame
    captured_at       TEXT NOT NULL,             -- UTC ISO-8601 of the best frame
    first_seen_at     TEXT NOT NULL,
    clock_source      TEXT NOT NULL,
    frame_seq         INTEGER NOT NULL,
    lat               REAL,
    lon               REAL,
    alt_m             REAL,
    speed_mps         REAL,
    track_deg         REAL,
    hdop              REAL,
    sats              INTEGER,
    fix_mode          INTEGER,
    fix_quality       INTEGER,
    position_method   TEXT NOT NULL DEFAULT 'none',  -- fix|interpolated|extrapolated|stale|none
    fix_age_s         REAL,
    crop_path         TEXT,                      -- relative to the data dir
    overview_path     TEXT,
    hit               INTEGER NOT NULL DEFAULT 0,
    created_at        TEXT NOT NULL
);
CREATE INDEX reads_captured_at ON reads(captured_at);
CREATE INDEX reads_plate ON reads(plate);

CREATE TABLE hits (
    id               TEXT PRIMARY KEY,
    read_id          TEXT NOT NULL REFERENCES reads(id) ON DELETE CASCADE,
    list_name        TEXT NOT NULL,
    list_version     INTEGER,
    list_age_s       REAL,
    entry_plate      TEXT NOT NULL,
    entry_state      TEXT,
    category         TEXT,
    priority         INTEGER NOT NULL DEFAULT 50,
    match            TEXT NOT NULL,              -- exact|equivalent|wildcard|length
    positions        TEXT NOT NULL DEFAULT '[]', -- JSON
    possible         INTEGER NOT NULL DEFAULT 0, -- state contradicts the entry
    alert            TEXT NOT NULL DEFAULT 'audible',
    historical       INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    disposition      TEXT,                       -- confirmed|misread|not_wanted|... set by the officer
    disposed_by      TEXT,
    disposed_at      TEXT,
    disposition_note TEXT
);
CREATE INDEX hits_read ON hits(read_id);

-- Store-and-forward queue. A row leaves only when the broker acknowledged it.
CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id    TEXT NOT NULL,
    kind         TEXT NOT NULL,                 -- hit|audit|disposition|event|read|image|health
    priority     INTEGER NOT NULL,              -- lower goes first
    payload      BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_attempt TEXT,
    acked_at     TEXT,
    UNIQUE (kind, record_id)
);
CREATE INDEX outbox_pending ON outbox(acked_at, priority, seq);

-- Malfunctions, health transitions and security events.
CREATE TABLE events (
    id         TEXT PRIMARY KEY,
    at         TEXT NOT NULL,
    kind       TEXT NOT NULL,                   -- malfunction|back_in_service|security|data_loss|info
    source     TEXT NOT NULL,                   -- camera:front, gps, disk, ...
    detail     TEXT NOT NULL DEFAULT '{}'       -- JSON
);
CREATE INDEX events_at ON events(at);
