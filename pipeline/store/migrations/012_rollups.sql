-- Rollups: what every dashboard, export and report figure is computed from, so that no read
-- scans face rows (raw rows stay for drill-down). Maintained in the transaction that writes or
-- deletes the face rows (pipeline/store/rollups.py); `python -m pipeline rollups --rebuild`
-- remakes them from the face rows, and the first connection after this migration does so
-- (rollup_state.stale).
--
-- Two grids of base cells, as pipeline/audience/grid.py: by_clock = false, 0.5 s of the
-- footage's own time (ads, and footage without a start time); by_clock = true, 5 minutes of
-- clock time, cell = seconds since 1970-01-01 of the stored timestamp (displays, products).

-- Per person (job, track) and base cell: the sums that person's own figures come from.
CREATE TABLE rollup_person_cells (
    job_id INTEGER NOT NULL,
    track_id INTEGER NOT NULL,
    stimulus_id INTEGER NOT NULL,
    source_id INTEGER NOT NULL,
    by_clock BOOLEAN NOT NULL,
    cell DOUBLE NOT NULL,
    frames INTEGER NOT NULL,
    sum_anger DOUBLE NOT NULL,
    sum_contempt DOUBLE NOT NULL,
    sum_disgust DOUBLE NOT NULL,
    sum_fear DOUBLE NOT NULL,
    sum_happiness DOUBLE NOT NULL,
    sum_neutral DOUBLE NOT NULL,
    sum_sadness DOUBLE NOT NULL,
    sum_surprise DOUBLE NOT NULL,
    n_anger INTEGER NOT NULL,
    n_contempt INTEGER NOT NULL,
    n_disgust INTEGER NOT NULL,
    n_fear INTEGER NOT NULL,
    n_happiness INTEGER NOT NULL,
    n_neutral INTEGER NOT NULL,
    n_sadness INTEGER NOT NULL,
    n_surprise INTEGER NOT NULL,
    sum_valence INTEGER NOT NULL,
    posed_frames INTEGER NOT NULL,
    looking_frames INTEGER NOT NULL,
    -- The most faces in one frame (snapshot) of this job in the cell that holds this person;
    -- 0 for footage, whose crowd is its tracks.
    max_faces_in_frame INTEGER NOT NULL,
    first_ts TIMESTAMP,
    last_ts TIMESTAMP,
    last_offset_s DOUBLE NOT NULL,
    dwell_s DOUBLE,
    attention_s DOUBLE,
    snapshot BOOLEAN NOT NULL
);

-- Per source and base cell, all jobs together: faces, people, sampled frames. The minimum crowd
-- is decided on these rows.
CREATE TABLE rollup_cells (
    stimulus_id INTEGER NOT NULL,
    source_id INTEGER NOT NULL,
    by_clock BOOLEAN NOT NULL,
    cell DOUBLE NOT NULL,
    faces BIGINT NOT NULL,
    persons BIGINT NOT NULL,
    max_faces_in_frame INTEGER,
    sampled_frames BIGINT NOT NULL,
    first_ts TIMESTAMP,
    last_ts TIMESTAMP,
    last_offset_s DOUBLE,
    snapshot BOOLEAN NOT NULL,
    PRIMARY KEY (stimulus_id, source_id, by_clock, cell)
);

-- People per base cell by the model and detector versions that scored them (A/B warnings).
CREATE TABLE rollup_versions (
    stimulus_id INTEGER NOT NULL,
    source_id INTEGER NOT NULL,
    by_clock BOOLEAN NOT NULL,
    cell DOUBLE NOT NULL,
    model_version VARCHAR NOT NULL,
    detector VARCHAR NOT NULL,
    persons BIGINT NOT NULL,
    PRIMARY KEY (stimulus_id, source_id, by_clock, cell, model_version, detector)
);

-- Per source, level and bucket: sums over people of each person's own figures in that bucket
-- (a person counts once per bucket). level > 0: buckets of that many seconds; 0: the whole
-- stimulus; -1: hour of the week (clock grid); -2: ad segment (index in start order).
CREATE TABLE rollup_people (
    stimulus_id INTEGER NOT NULL,
    source_id INTEGER NOT NULL,
    by_clock BOOLEAN NOT NULL,
    level DOUBLE NOT NULL,
    bucket DOUBLE NOT NULL,
    persons BIGINT NOT NULL,
    video BIGINT NOT NULL,
    m_anger DOUBLE NOT NULL,
    m_contempt DOUBLE NOT NULL,
    m_disgust DOUBLE NOT NULL,
    m_fear DOUBLE NOT NULL,
    m_happiness DOUBLE NOT NULL,
    m_neutral DOUBLE NOT NULL,
    m_sadness DOUBLE NOT NULL,
    m_surprise DOUBLE NOT NULL,
    s_anger DOUBLE NOT NULL,
    s_contempt DOUBLE NOT NULL,
    s_disgust DOUBLE NOT NULL,
    s_fear DOUBLE NOT NULL,
    s_happiness DOUBLE NOT NULL,
    s_neutral DOUBLE NOT NULL,
    s_sadness DOUBLE NOT NULL,
    s_surprise DOUBLE NOT NULL,
    valence DOUBLE NOT NULL,
    valence_sq DOUBLE NOT NULL,
    happiness_sq DOUBLE NOT NULL,
    neutral_sq DOUBLE NOT NULL,
    looked_known BIGINT NOT NULL,
    looked BIGINT NOT NULL,
    dwell_n BIGINT NOT NULL,
    dwell_sum DOUBLE NOT NULL,
    attention_n BIGINT NOT NULL,
    attention_sum DOUBLE NOT NULL,
    watchers BIGINT NOT NULL,
    both_dwell DOUBLE NOT NULL,
    both_attention DOUBLE NOT NULL,
    ws_anger DOUBLE NOT NULL,
    ws_contempt DOUBLE NOT NULL,
    ws_disgust DOUBLE NOT NULL,
    ws_fear DOUBLE NOT NULL,
    ws_happiness DOUBLE NOT NULL,
    ws_neutral DOUBLE NOT NULL,
    ws_sadness DOUBLE NOT NULL,
    ws_surprise DOUBLE NOT NULL,
    all_dwell_n BIGINT NOT NULL,
    all_dwell_sum DOUBLE NOT NULL,
    all_dwell_sq DOUBLE NOT NULL,
    all_attention_n BIGINT NOT NULL,
    all_attention_sum DOUBLE NOT NULL,
    all_attention_sq DOUBLE NOT NULL,
    PRIMARY KEY (stimulus_id, source_id, by_clock, level, bucket)
);

CREATE TABLE rollup_state (stale BOOLEAN NOT NULL);
INSERT INTO rollup_state VALUES (true);
