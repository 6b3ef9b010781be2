-- Ingest jobs, sampled frames, per-face observations, tracks and the aggregated series.
-- No pixels anywhere: only numbers about faces.
CREATE SEQUENCE job_ids START 1;
CREATE TABLE ingest_jobs (
    job_id INTEGER PRIMARY KEY DEFAULT nextval('job_ids'),
    source_id INTEGER NOT NULL,
    input_name VARCHAR NOT NULL,
    input_path VARCHAR NOT NULL DEFAULT '',
    content_hash VARCHAR NOT NULL,
    params_hash VARCHAR NOT NULL,
    params VARCHAR NOT NULL,
    model_version VARCHAR NOT NULL,
    detector VARCHAR NOT NULL,
    status VARCHAR NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    progress DOUBLE NOT NULL DEFAULT 0,
    frames INTEGER NOT NULL DEFAULT 0,
    faces INTEGER NOT NULL DEFAULT 0,
    tracks INTEGER NOT NULL DEFAULT 0,
    error_title VARCHAR,
    error_message VARCHAR,
    warnings VARCHAR NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    finished_at TIMESTAMP
);

CREATE TABLE frames (
    job_id INTEGER NOT NULL,
    frame_index INTEGER NOT NULL,
    offset_s DOUBLE NOT NULL,
    ts TIMESTAMP,
    faces INTEGER NOT NULL,
    PRIMARY KEY (job_id, frame_index)
);

CREATE TABLE face_observations (
    job_id INTEGER NOT NULL,
    source_id INTEGER NOT NULL,
    stimulus_id INTEGER NOT NULL,
    frame_index INTEGER NOT NULL,
    offset_s DOUBLE NOT NULL,
    ts TIMESTAMP,
    track_id INTEGER NOT NULL,
    x INTEGER NOT NULL,
    y INTEGER NOT NULL,
    w INTEGER NOT NULL,
    h INTEGER NOT NULL,
    det_confidence REAL NOT NULL,
    face_px INTEGER NOT NULL,
    anger REAL NOT NULL,
    contempt REAL NOT NULL,
    disgust REAL NOT NULL,
    fear REAL NOT NULL,
    happiness REAL NOT NULL,
    neutral REAL NOT NULL,
    sadness REAL NOT NULL,
    surprise REAL NOT NULL,
    dominant VARCHAR NOT NULL,
    is_small BOOLEAN NOT NULL,
    is_blurred BOOLEAN NOT NULL,
    is_profile BOOLEAN NOT NULL
);

CREATE TABLE tracks (
    job_id INTEGER NOT NULL,
    track_id INTEGER NOT NULL,
    first_offset_s DOUBLE NOT NULL,
    last_offset_s DOUBLE NOT NULL,
    dwell_s DOUBLE NOT NULL,
    observations INTEGER NOT NULL,
    PRIMARY KEY (job_id, track_id)
);

-- Written once per job at the job's bucket size; other bucket sizes are computed on demand by
-- the same SQL (pipeline/store/series.py).
CREATE TABLE emotion_series (
    job_id INTEGER NOT NULL,
    stimulus_id INTEGER NOT NULL,
    source_id INTEGER NOT NULL,
    bucket_s DOUBLE NOT NULL,
    bucket_offset_s DOUBLE,
    bucket_ts TIMESTAMP,
    faces INTEGER NOT NULL,
    unique_tracks INTEGER NOT NULL,
    mean_anger DOUBLE, mean_contempt DOUBLE, mean_disgust DOUBLE, mean_fear DOUBLE,
    mean_happiness DOUBLE, mean_neutral DOUBLE, mean_sadness DOUBLE, mean_surprise DOUBLE,
    share_anger DOUBLE, share_contempt DOUBLE, share_disgust DOUBLE, share_fear DOUBLE,
    share_happiness DOUBLE, share_neutral DOUBLE, share_sadness DOUBLE, share_surprise DOUBLE,
    valence DOUBLE,
    valence_low DOUBLE,
    valence_high DOUBLE,
    mean_dwell_s DOUBLE
);

CREATE INDEX face_obs_stimulus ON face_observations (stimulus_id, source_id);
