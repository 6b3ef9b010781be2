-- emotion_series (migration 002) held one series per ingest job, aggregated over face rows:
-- its means, shares and valence band weighted a person by how many frames they were seen in,
-- and its minimum crowd was the setting at ingest time, applied to the job's own buckets. No
-- screen, export, report or API response read it, and every figure they show is computed over
-- people on the fixed base grid from the rollups (migration 012, rollup_people: per source and
-- bucket, the sums over people of each person's own figures). A second, face-weighted series
-- in the same file only contradicted them for anyone reading the database directly, so it is
-- dropped; it was derived from the face rows, which stay, and nothing else is lost.
DROP TABLE IF EXISTS emotion_series;
