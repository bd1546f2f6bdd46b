-- Rollup rows are updated by every ingest batch. With their counts in the campaign indexes
-- (added so reports could read those indexes alone), no such update could be HOT: each
-- one wrote a new version into both indexes. Under steady ingest over 10 000 links, the
-- 10 000 rows of click_rollups took 96 MB of heap and 130 MB of campaign index within
-- minutes (more without autovacuum), and Postgres spent most of its ingest time walking
-- them. Indexed now only by columns a row never changes, the counts are updated in place
-- on the same page (the tables keep free space for it: fillfactor 60), and reports read
-- the counts from the rows.
DROP INDEX click_rollups_campaign_idx;
CREATE INDEX click_rollups_campaign_idx ON click_rollups (campaign_id, hour);

DROP INDEX click_daily_campaign_idx;
CREATE INDEX click_daily_campaign_idx ON click_daily (campaign_id, day);
