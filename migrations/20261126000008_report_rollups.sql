-- Rollups shaped for the analyst reports.
--
-- Totals, rankings and time series need clicks per link and hour; breakdowns need clicks
-- per campaign, hour and one dimension value. Keyed on link × hour × country × device, one
-- rollup served neither well: a 90-day campaign report summed tens of rows per link-hour,
-- and browser, OS, referrer and trigger were not rolled up at all.
--
-- Both tables are rebuilt here from the click facts, which is what they always equal.

DROP TABLE click_rollups;

CREATE TABLE click_rollups (
    link_id         bigint NOT NULL,
    hour            timestamptz NOT NULL,
    campaign_id     bigint NOT NULL,
    influencer_id   bigint NOT NULL,
    clicks          bigint NOT NULL DEFAULT 0 CHECK (clicks >= 0),
    unique_clicks   bigint NOT NULL DEFAULT 0 CHECK (unique_clicks >= 0),
    bot_clicks      bigint NOT NULL DEFAULT 0 CHECK (bot_clicks >= 0),
    PRIMARY KEY (link_id, hour)
) WITH (fillfactor = 60);
-- Campaign reports read only this index (an index-only scan where pages are all-visible).
CREATE INDEX click_rollups_campaign_idx ON click_rollups (campaign_id, hour)
    INCLUDE (influencer_id, link_id, clicks, unique_clicks, bot_clicks);

-- One row per campaign × dimension × hour × value ('' when unknown). Per campaign rather
-- than per link: a batch then touches a handful of rows per dimension, and a breakdown over
-- a whole campaign reads hours × values rows, however many links it has.
CREATE TABLE click_dim_rollups (
    campaign_id     bigint NOT NULL,
    dimension       text NOT NULL
                    CHECK (dimension IN ('country', 'device', 'browser', 'os', 'referrer', 'trigger')),
    hour            timestamptz NOT NULL,
    value           text NOT NULL,
    clicks          bigint NOT NULL DEFAULT 0 CHECK (clicks >= 0),
    unique_clicks   bigint NOT NULL DEFAULT 0 CHECK (unique_clicks >= 0),
    bot_clicks      bigint NOT NULL DEFAULT 0 CHECK (bot_clicks >= 0),
    PRIMARY KEY (campaign_id, dimension, hour, value)
) WITH (fillfactor = 60);

INSERT INTO click_rollups (link_id, hour, campaign_id, influencer_id, clicks, unique_clicks,
                           bot_clicks)
SELECT link_id, date_trunc('hour', clicked_at, 'UTC'), campaign_id, influencer_id,
       count(*) FILTER (WHERE NOT is_bot), count(*) FILTER (WHERE is_unique),
       count(*) FILTER (WHERE is_bot)
FROM clicks
GROUP BY 1, 2, 3, 4;

INSERT INTO click_dim_rollups (campaign_id, dimension, hour, value, clicks, unique_clicks,
                               bot_clicks)
SELECT campaign_id, dim.name, date_trunc('hour', clicked_at, 'UTC'), dim.value,
       count(*) FILTER (WHERE NOT is_bot), count(*) FILTER (WHERE is_unique),
       count(*) FILTER (WHERE is_bot)
FROM clicks
CROSS JOIN LATERAL (VALUES ('country', coalesce(country, '')), ('device', device),
                           ('browser', coalesce(browser, '')), ('os', coalesce(os, '')),
                           ('referrer', coalesce(referrer_host, '')), ('trigger', trigger))
           AS dim(name, value)
GROUP BY 1, 2, 3, 4;

-- Conversions: the rollups gain the kind (reports count sales as conversions and list the
-- other goals apart), the link and the code (breakdowns by link and by code), and `voided`:
-- conversions no longer counted because they were cancelled or refunded in full.
ALTER TABLE conversion_events
    ADD COLUMN code text,
    -- This event stops its conversion from counting (a cancellation, or the refund that
    -- made the refunds reach the amount).
    ADD COLUMN voids boolean NOT NULL DEFAULT false;

UPDATE conversion_events e SET code = c.code FROM conversions c WHERE c.id = e.conversion_id;

-- Events stored before this migration did not say whether they void their conversion:
-- derived from the conversions' state, on the cancellation, else on the last refund.
UPDATE conversion_events e SET voids = true
FROM conversions c
WHERE c.id = e.conversion_id
  AND e.event_type = 'cancellation'
  AND (c.amount_minor = 0 OR e.amount_minor > 0);
UPDATE conversion_events e SET voids = true
FROM conversions c
WHERE c.id = e.conversion_id
  AND c.amount_minor > 0 AND c.refunded_minor = c.amount_minor
  AND e.event_type = 'refund'
  -- Refund event ids are `refund:<refund id>`: the highest id is the last refund.
  AND split_part(e.event_id, ':', 2)::bigint =
      (SELECT max(split_part(r.event_id, ':', 2)::bigint) FROM conversion_events r
       WHERE r.conversion_id = c.id AND r.event_type = 'refund')
  AND NOT EXISTS (SELECT 1 FROM conversion_events x
                  WHERE x.conversion_id = c.id AND x.event_type = 'cancellation' AND x.voids);

DROP TABLE conversion_rollups;

CREATE TABLE conversion_rollups (
    campaign_id     bigint NOT NULL,
    influencer_id   bigint NOT NULL,
    hour            timestamptz NOT NULL,
    via             text NOT NULL,
    kind            text NOT NULL,
    link_id         bigint NOT NULL DEFAULT 0,  -- 0: no link
    code            text NOT NULL DEFAULT '',   -- '': no code
    conversions     bigint NOT NULL DEFAULT 0,
    revenue_minor   bigint NOT NULL DEFAULT 0,
    discount_minor  bigint NOT NULL DEFAULT 0,
    refunded_minor  bigint NOT NULL DEFAULT 0,
    cancelled       bigint NOT NULL DEFAULT 0,
    voided          bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, influencer_id, hour, via, kind, link_id, code)
) WITH (fillfactor = 70);
CREATE INDEX conversion_rollups_campaign_idx ON conversion_rollups (campaign_id, hour);

INSERT INTO conversion_rollups (campaign_id, influencer_id, hour, via, kind, link_id, code,
                                conversions, revenue_minor, discount_minor, refunded_minor,
                                cancelled, voided)
SELECT campaign_id, influencer_id, date_trunc('hour', occurred_at, 'UTC'), via, kind,
       coalesce(link_id, 0), coalesce(code, ''),
       count(*) FILTER (WHERE event_type = 'conversion'),
       coalesce(sum(amount_minor) FILTER (WHERE event_type = 'conversion'), 0),
       coalesce(sum(discount_minor) FILTER (WHERE event_type = 'conversion'), 0),
       coalesce(sum(amount_minor) FILTER (WHERE event_type <> 'conversion'), 0),
       count(*) FILTER (WHERE event_type = 'cancellation'),
       count(*) FILTER (WHERE voids)
FROM conversion_events
WHERE campaign_id IS NOT NULL AND influencer_id IS NOT NULL AND via IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6, 7;
