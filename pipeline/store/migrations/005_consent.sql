-- Consented studies: a campaign whose respondents (an ad test in a lab or a panel) agreed to be
-- analysed one by one. Only the CLI writes here (`python -m pipeline consent`), recording who
-- set or withdrew the flag and when; the latest row per campaign is in force. A consented
-- campaign may use a minimum crowd of 1, and every view and report of it says so.
CREATE TABLE campaign_consent (
    campaign_id INTEGER NOT NULL,
    consented BOOLEAN NOT NULL,
    set_by VARCHAR NOT NULL,
    set_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    note VARCHAR NOT NULL DEFAULT ''
);
