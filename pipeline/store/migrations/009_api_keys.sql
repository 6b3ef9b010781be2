-- Keys of the HTTP service (`python -m pipeline serve`). Only a SHA-256 of each key is kept; the
-- key itself is printed once by `keys add`. A key is scoped: 'recognize' (image recognition
-- only), 'push' (snapshots to one campaign / stimulus / camera) or 'video' (video operations
-- for one campaign / stimulus). Revoked keys stay listed with the time they were revoked.
CREATE SEQUENCE api_key_ids START 1;
CREATE TABLE api_keys (
    key_id INTEGER PRIMARY KEY DEFAULT nextval('api_key_ids'),
    name VARCHAR NOT NULL,
    key_sha256 VARCHAR NOT NULL UNIQUE,
    key_prefix VARCHAR NOT NULL,
    scope VARCHAR NOT NULL CHECK (scope IN ('recognize', 'push', 'video')),
    campaign_id INTEGER,
    stimulus VARCHAR,
    camera VARCHAR,
    rate_per_min INTEGER,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    revoked_at TIMESTAMP
);
