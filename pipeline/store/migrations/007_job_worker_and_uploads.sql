-- Which process runs a queued or running job: a job whose process is gone (killed, crashed,
-- out of disk) is recorded as interrupted at once on this machine, and after
-- EMOTION_JOB_STALE_S without a heartbeat (updated_at) anywhere else.
ALTER TABLE ingest_jobs ADD COLUMN worker_host VARCHAR;
ALTER TABLE ingest_jobs ADD COLUMN worker_pid INTEGER;

-- Uploaded footage is deleted once its job ends unless the user chose to keep it; kept files
-- are listed on the upload page and deleted by `purge` with their job.
ALTER TABLE ingest_jobs ADD COLUMN keep_input BOOLEAN DEFAULT false;
