-- Video operations of the HTTP service (POST /emotion/v1.0/recognizeinvideo): the queued
-- ingest job that analyses the spooled upload (deleted when the job ends, as for dashboard
-- uploads), the key that started it (only that key may read it), the window of its result
-- and the video's own size, frame rate and length for the Emotion API result header.
CREATE TABLE api_operations (
    operation_id VARCHAR PRIMARY KEY,
    key_id INTEGER NOT NULL,
    job_id INTEGER NOT NULL,
    window_s DOUBLE NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    framerate DOUBLE NOT NULL,
    duration_s DOUBLE NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
