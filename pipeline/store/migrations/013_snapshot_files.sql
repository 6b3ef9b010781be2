-- The snapshots (sha256 of their bytes) each image job analysed. A camera folder ingested again
-- adds only the snapshots that no done or running job of the same stimulus and analysis
-- parameters holds (pipeline/store/jobs.py, claim_job), so a folder that grew, lost old files
-- or was touched is neither counted twice nor forgotten, and a snapshot pushed on its own
-- (watch, the HTTP service) is not counted again with its folder. Rows of a deleted job are
-- deleted with it; a row whose job is gone is ignored. Jobs stored before this migration have
-- no rows here: their folders are still recognised whole, by the folder's own hash.
CREATE TABLE snapshot_files (
    job_id INTEGER NOT NULL,
    content_hash VARCHAR NOT NULL,
    PRIMARY KEY (job_id, content_hash)
);
