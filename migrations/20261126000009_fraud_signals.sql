-- Fraud signals (see domain::fraud): stored on the facts, counted in the rollups, so
-- reports can show them and leave them out of per-click and per-conversion fees.

-- A click past the burst limit of its visitor or address on its link.
ALTER TABLE clicks ADD COLUMN burst boolean NOT NULL DEFAULT false;

-- Non-bot clicks flagged as bursts, and the unique ones among them (not billable).
ALTER TABLE click_rollups
    ADD COLUMN flagged_clicks bigint NOT NULL DEFAULT 0 CHECK (flagged_clicks >= 0),
    ADD COLUMN flagged_unique_clicks bigint NOT NULL DEFAULT 0 CHECK (flagged_unique_clicks >= 0);
DROP INDEX click_rollups_campaign_idx;
CREATE INDEX click_rollups_campaign_idx ON click_rollups (campaign_id, hour)
    INCLUDE (influencer_id, link_id, clicks, unique_clicks, bot_clicks, flagged_clicks,
             flagged_unique_clicks);

-- The order's click id (verified when the conversion was accepted) and the signals the
-- worker read from it: each event of a conversion carries the same facts, so a refund or
-- cancellation that voids it takes back exactly the flag its conversion added.
ALTER TABLE conversion_events
    ADD COLUMN click_id text,
    ADD COLUMN fast_conversion boolean NOT NULL DEFAULT false,
    ADD COLUMN leaked_code boolean NOT NULL DEFAULT false;

-- Counted conversions carrying a signal: flagged conversions less flagged voided ones.
ALTER TABLE conversion_rollups ADD COLUMN flagged bigint NOT NULL DEFAULT 0;
