-- Access rule (issue 17): the roster carries each user's training date and recertification period, so
-- a user whose training lapsed is refused; and the data dir binds the unit id it was created for, so a
-- command run with another unit's config is refused instead of writing records under the wrong unit.
ALTER TABLE roster ADD COLUMN trained_on TEXT;          -- YYYY-MM-DD of the last ALPR training, NULL: untrained
ALTER TABLE roster ADD COLUMN recert_days INTEGER;      -- training lapses this many days after trained_on; NULL: never

CREATE TABLE unit_identity (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    unit_id   TEXT NOT NULL,
    bound_at  TEXT NOT NULL
);
