-- Which process runs a queued or running job: a job whose process is gone (killed, crashed,
-- out of disk) is recorded as interrupted at once on this machine, and after
-- EMOTION_JOB_STALE_S without a heartbeat (updated_at) anywhere else.
ALTER TABLE ingest_jobs ADD COLUMN worker_host VARCHAR;
ALTER TABLE ingest_jobs ADD COLUMN worker_pid INTEGER;
