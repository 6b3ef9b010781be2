-- Release 1 created tracks.dwell_s as NOT NULL; snapshot faces seen once have unknown dwell
-- (NULL). Migration 002 was later edited in place, so databases made by release 1 kept the
-- constraint and refused every snapshot ingest. Applied migrations are never edited: this one
-- lifts the constraint (a no-op where 002 already made the column nullable).
ALTER TABLE tracks ALTER COLUMN dwell_s DROP NOT NULL;
