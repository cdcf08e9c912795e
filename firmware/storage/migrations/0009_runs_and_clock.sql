-- Faults (issue 18): one row per daemon run, so an unclean stop is found at the next start and the
-- clock a run trusted is known to the next run in the same boot; and reads whose timestamp came
-- from a clock later found to have stepped, with the latest time they may really have been taken.
CREATE TABLE unit_runs (
    id                  TEXT PRIMARY KEY,
    pid                 INTEGER NOT NULL,
    version             TEXT NOT NULL,
    boot_id             TEXT,                   -- the kernel's boot id: monotonic time is comparable within one
    started_at          TEXT NOT NULL,
    started_mono_ns     INTEGER NOT NULL,
    seen_at             TEXT NOT NULL,          -- wall clock at the last heartbeat
    seen_mono_ns        INTEGER NOT NULL,
    stopped_at          TEXT,                   -- set by a clean stop; NULL: running, or it died
    pending             TEXT NOT NULL DEFAULT '{}',  -- JSON: what was in flight at the last heartbeat
    first_read_rowid    INTEGER NOT NULL,       -- reads with a larger rowid were stored after this run began
    flag_from_rowid     INTEGER NOT NULL,       -- first read of this boot's runs: flagged together on a clock step
    clock_base_offset_s REAL,                   -- wall minus monotonic seconds of the clock this run trusts
    clock_suspect       TEXT                    -- JSON reasons while this run does not trust the clock
);
CREATE INDEX unit_runs_started ON unit_runs(started_at);

ALTER TABLE reads ADD COLUMN clock_suspect INTEGER NOT NULL DEFAULT 0;
ALTER TABLE reads ADD COLUMN captured_at_latest TEXT;   -- set with clock_suspect: never purged before this ages
