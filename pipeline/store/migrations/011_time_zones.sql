-- Clock time of each camera: an IANA time zone name (e.g. 'Europe/Berlin') per source, and a
-- default per campaign for its sources that have none. NULL: inherit (source -> campaign ->
-- UTC). Timestamps stay stored in UTC; views and reports convert them to the camera's local
-- time, so a chain of shops in several zones reads "10:00" as opening time in each.
ALTER TABLE sources ADD COLUMN time_zone VARCHAR;
ALTER TABLE campaigns ADD COLUMN time_zone VARCHAR;
