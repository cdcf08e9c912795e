-- Hotlists: named lists, their versions (one per load or manual change) and their entries.
CREATE TABLE hotlists (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT NOT NULL UNIQUE,
    source          TEXT NOT NULL DEFAULT 'agency',   -- ncic|agency|manual
    category        TEXT,                             -- default category of its entries
    priority        INTEGER NOT NULL DEFAULT 50,      -- 0 highest .. 100
    alert           TEXT NOT NULL DEFAULT 'audible',  -- audible|visual|silent
    version         INTEGER NOT NULL DEFAULT 0,       -- current version; bumped in the same transaction as its entries
    staging         INTEGER NOT NULL DEFAULT 0,       -- 1: a load in progress or a retired version being deleted
    created_at      TEXT NOT NULL
);

CREATE TABLE hotlist_versions (
    list_id         INTEGER NOT NULL REFERENCES hotlists(id) ON DELETE CASCADE,
    version         INTEGER NOT NULL,
    mode            TEXT NOT NULL,                    -- replace|add|remove|manual-add|manual-extend|manual-remove
    sha256          TEXT,                             -- of the loaded file (NULL for manual changes)
    file_name       TEXT,
    loaded_at       TEXT NOT NULL,
    entries         INTEGER NOT NULL,                 -- entries in the list after this version
    report          TEXT NOT NULL DEFAULT '{}',       -- JSON ImportReport summary
    PRIMARY KEY (list_id, version)
);

CREATE TABLE hotlist_entries (
    id              INTEGER PRIMARY KEY,
    list_id         INTEGER NOT NULL REFERENCES hotlists(id) ON DELETE CASCADE,
    plate           TEXT NOT NULL,                    -- normalised A-Z0-9, '*' only in wildcard entries
    state           TEXT,
    category        TEXT,                             -- NULL: the list's category
    effective_at    TEXT,                             -- UTC ISO-8601; NULL: always
    expires_at      TEXT,                             -- UTC ISO-8601; NULL: never (manual entries always have one)
    annotations     TEXT,                             -- JSON: NCIC fields (NIC, ORI, OCA, MKE, VMA, VCO...) and extras
    reason          TEXT,                             -- manual entries: why (required)
    added_by        TEXT,                             -- manual entries: who
    added_at        TEXT                              -- manual entries: when
);
-- By list only: a 2M-row load appends to it cheaply, where a (list_id, plate) index costs more than
-- the rest of the load. Plate lookups (incremental add/remove) join a temp table over the list instead.
CREATE INDEX hotlist_entries_list ON hotlist_entries(list_id);
