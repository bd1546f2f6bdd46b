-- Daily rollups beside the hourly ones. A report over weeks or months reads whole UTC days
-- from these and only the hours at its two ends from the hourly tables: on a busy
-- campaign the hourly conversion rollups hold about one row per conversion, and summing
-- them cost more than the 50 ms a report may take.

CREATE TABLE click_daily (
    link_id                 bigint NOT NULL,
    day                     date NOT NULL,
    campaign_id             bigint NOT NULL,
    influencer_id           bigint NOT NULL,
    clicks                  bigint NOT NULL DEFAULT 0,
    unique_clicks           bigint NOT NULL DEFAULT 0,
    bot_clicks              bigint NOT NULL DEFAULT 0,
    flagged_clicks          bigint NOT NULL DEFAULT 0,
    flagged_unique_clicks   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (link_id, day)
) WITH (fillfactor = 60);
CREATE INDEX click_daily_campaign_idx ON click_daily (campaign_id, day)
    INCLUDE (influencer_id, link_id, clicks, unique_clicks, bot_clicks, flagged_clicks,
             flagged_unique_clicks);

INSERT INTO click_daily (link_id, day, campaign_id, influencer_id, clicks, unique_clicks,
                         bot_clicks, flagged_clicks, flagged_unique_clicks)
SELECT link_id, (hour AT TIME ZONE 'UTC')::date, campaign_id, influencer_id, sum(clicks),
       sum(unique_clicks), sum(bot_clicks), sum(flagged_clicks), sum(flagged_unique_clicks)
FROM click_rollups GROUP BY 1, 2, 3, 4;

CREATE TABLE conversion_daily (
    campaign_id     bigint NOT NULL,
    influencer_id   bigint NOT NULL,
    day             date NOT NULL,
    via             text NOT NULL,
    kind            text NOT NULL,
    link_id         bigint NOT NULL DEFAULT 0,
    code            text NOT NULL DEFAULT '',
    conversions     bigint NOT NULL DEFAULT 0,
    revenue_minor   bigint NOT NULL DEFAULT 0,
    discount_minor  bigint NOT NULL DEFAULT 0,
    refunded_minor  bigint NOT NULL DEFAULT 0,
    cancelled       bigint NOT NULL DEFAULT 0,
    voided          bigint NOT NULL DEFAULT 0,
    flagged         bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, influencer_id, day, via, kind, link_id, code)
) WITH (fillfactor = 70);
CREATE INDEX conversion_daily_campaign_idx ON conversion_daily (campaign_id, day);

INSERT INTO conversion_daily (campaign_id, influencer_id, day, via, kind, link_id, code,
                              conversions, revenue_minor, discount_minor, refunded_minor,
                              cancelled, voided, flagged)
SELECT campaign_id, influencer_id, (hour AT TIME ZONE 'UTC')::date, via, kind, link_id, code,
       sum(conversions), sum(revenue_minor), sum(discount_minor), sum(refunded_minor),
       sum(cancelled), sum(voided), sum(flagged)
FROM conversion_rollups GROUP BY 1, 2, 3, 4, 5, 6, 7;

-- A campaign's sales per hour, whoever got the credit: what a campaign-wide time series
-- reads (the hourly rollups above split every hour by influencer, link and code).
CREATE TABLE conversion_hourly (
    campaign_id     bigint NOT NULL,
    hour            timestamptz NOT NULL,
    kind            text NOT NULL,
    conversions     bigint NOT NULL DEFAULT 0,
    revenue_minor   bigint NOT NULL DEFAULT 0,
    refunded_minor  bigint NOT NULL DEFAULT 0,
    voided          bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, hour, kind)
) WITH (fillfactor = 70);

INSERT INTO conversion_hourly (campaign_id, hour, kind, conversions, revenue_minor,
                               refunded_minor, voided)
SELECT campaign_id, hour, kind, sum(conversions), sum(revenue_minor), sum(refunded_minor),
       sum(voided)
FROM conversion_rollups GROUP BY 1, 2, 3;
