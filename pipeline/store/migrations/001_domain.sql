-- Campaigns, stimuli (display / ad / product), ad segments, sources (cameras or footage).
CREATE SEQUENCE campaign_ids START 1;
CREATE TABLE campaigns (
    campaign_id INTEGER PRIMARY KEY DEFAULT nextval('campaign_ids'),
    name VARCHAR NOT NULL UNIQUE,
    description VARCHAR NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE SEQUENCE stimulus_ids START 1;
CREATE TABLE stimuli (
    stimulus_id INTEGER PRIMARY KEY DEFAULT nextval('stimulus_ids'),
    campaign_id INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL CHECK (kind IN ('display', 'ad', 'product')),
    duration_s DOUBLE,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    UNIQUE (campaign_id, name)
);

CREATE TABLE segments (
    stimulus_id INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    start_s DOUBLE NOT NULL,
    end_s DOUBLE NOT NULL CHECK (end_s > start_s),
    PRIMARY KEY (stimulus_id, name)
);

CREATE SEQUENCE source_ids START 1;
CREATE TABLE sources (
    source_id INTEGER PRIMARY KEY DEFAULT nextval('source_ids'),
    stimulus_id INTEGER NOT NULL,
    kind VARCHAR NOT NULL CHECK (kind IN ('camera', 'footage')),
    name VARCHAR NOT NULL,
    location VARCHAR NOT NULL DEFAULT '',
    placement VARCHAR NOT NULL DEFAULT '',
    -- JSON list of polygons in relative frame coordinates [[x, y], ...] (0..1): staff areas
    -- where no face may be scored (EU AI Act Art. 5(1)(f)).
    exclusion_zones VARCHAR NOT NULL DEFAULT '[]',
    UNIQUE (stimulus_id, name)
);
