-- Report benchmark data, part 1: one 90-day campaign with 50 enrolled influencers (one
-- link and one code each, mixed compensation), two posts each with three metric
-- snapshots, cost lines, and 100 000 conversions (code and click, some refunded or
-- cancelled) with their rollups. Clicks come from reports_clicks.sql.
\set ON_ERROR_STOP on

INSERT INTO campaigns (name, slug, currency, starts_at, ends_at, budget_minor, goal, goal_target, margin_bps)
VALUES ('Bench', 'bench', 'EUR', '2026-06-01T00:00:00Z', '2026-08-30T00:00:00Z', 50000000,
        'revenue', 200000000, 4000);

INSERT INTO influencers (handle, display_name, followers)
SELECT 'creator' || g, 'Creator ' || g, 10000 * g FROM generate_series(1, 50) g;

INSERT INTO enrollments (campaign_id, influencer_id, flat_fee_minor, cpc_minor, cpa_minor,
                         revenue_share_bps, target_metric, target_value)
SELECT 1, i.id, (i.id % 3) * 50000, (i.id % 2) * 5, (i.id % 4) * 200, (i.id % 5) * 300,
       'revenue_minor', 4000000
FROM influencers i;

INSERT INTO links (slug, campaign_id, influencer_id, destination, utm)
SELECT 'bench-' || i.id, 1, i.id, 'https://shop.example.com/', '{"source":"b","medium":"influencer","campaign":"bench"}'
FROM influencers i;

INSERT INTO promo_codes (code, campaign_id, influencer_id, discount_kind, discount_value)
SELECT 'CREATOR' || i.id, 1, i.id, 'percent', 1000 FROM influencers i;

INSERT INTO posts (campaign_id, influencer_id, platform, published_at)
SELECT 1, i.id, 'instagram', '2026-06-01T00:00:00Z'::timestamptz + (p * 30 + i.id % 20) * interval '1 day'
FROM influencers i, generate_series(0, 1) p;

INSERT INTO post_metrics (post_id, impressions, reach, likes, comments, shares, saves, views, source, captured_at)
SELECT p.id, 20000 * s + p.id * 100, 15000 * s + p.id * 50, 800 * s, 90 * s, 30 * s, 40 * s, 5000 * s,
       (ARRAY['self_reported', 'verified', 'api'])[s], p.published_at + s * interval '2 days'
FROM posts p, generate_series(1, 3) s;

INSERT INTO cost_lines (campaign_id, influencer_id, kind, amount_minor, incurred_at)
SELECT 1, i.id, 'gifting', 2500, '2026-06-05T00:00:00Z' FROM influencers i;
INSERT INTO cost_lines (campaign_id, kind, amount_minor, incurred_at)
VALUES (1, 'agency_fee', 500000, '2026-06-01T00:00:00Z'), (1, 'shipping', 80000, '2026-07-01T00:00:00Z');

-- 100 000 conversions spread over the 90 days: three in four by code, the rest by click;
-- one in twenty partly refunded, one in fifty cancelled.
INSERT INTO conversions (order_id, kind, amount_minor, currency, discount_minor, refunded_minor,
                         cancelled_at, status, campaign_id, influencer_id, link_id, via, rule,
                         code, occurred_at)
SELECT 'bench-' || g, 'sale', amount, 'EUR', amount / 10,
       CASE WHEN g % 20 = 0 THEN amount / 4 ELSE 0 END,
       CASE WHEN g % 50 = 0 THEN now() END,
       'attributed', 1, influencer,
       CASE WHEN g % 4 = 0 THEN influencer END,
       CASE WHEN g % 4 = 0 THEN 'click' ELSE 'code' END,
       CASE WHEN g % 4 = 0 THEN 'last_click_in_window' ELSE 'code' END,
       CASE WHEN g % 4 = 0 THEN NULL ELSE 'CREATOR' || influencer END,
       '2026-06-01T00:00:00Z'::timestamptz + (g::float8 / 100000) * interval '90 days'
FROM (SELECT g, 1 + (g * 7919) % 50 AS influencer, 1000 + (g::bigint * 104729) % 20000 AS amount
      FROM generate_series(1, 100000) g) s;

-- Their rollups, as the worker would have built them from the events.
INSERT INTO conversion_rollups (campaign_id, influencer_id, hour, via, kind, link_id, code,
                                conversions, revenue_minor, discount_minor, refunded_minor,
                                cancelled, voided, flagged)
SELECT campaign_id, influencer_id, date_trunc('hour', occurred_at, 'UTC'), via, kind,
       coalesce(link_id, 0), coalesce(code, ''), count(*), sum(amount_minor),
       sum(discount_minor),
       sum(CASE WHEN cancelled_at IS NOT NULL THEN amount_minor ELSE refunded_minor END),
       count(*) FILTER (WHERE cancelled_at IS NOT NULL),
       count(*) FILTER (WHERE cancelled_at IS NOT NULL
                          OR (amount_minor > 0 AND refunded_minor = amount_minor)),
       0
FROM conversions GROUP BY 1, 2, 3, 4, 5, 6, 7;

SELECT ensure_click_partition(m)
FROM generate_series('2026-06-01'::timestamptz, '2026-08-30'::timestamptz, interval '1 month') m;
SELECT ensure_click_partition('2026-08-30'::timestamptz);

INSERT INTO conversion_daily (campaign_id, influencer_id, day, via, kind, link_id, code,
                              conversions, revenue_minor, discount_minor, refunded_minor,
                              cancelled, voided, flagged)
SELECT campaign_id, influencer_id, (hour AT TIME ZONE 'UTC')::date, via, kind, link_id, code,
       sum(conversions), sum(revenue_minor), sum(discount_minor), sum(refunded_minor),
       sum(cancelled), sum(voided), sum(flagged)
FROM conversion_rollups GROUP BY 1, 2, 3, 4, 5, 6, 7;

INSERT INTO conversion_hourly (campaign_id, hour, kind, conversions, revenue_minor,
                               refunded_minor, voided)
SELECT campaign_id, hour, kind, sum(conversions), sum(revenue_minor), sum(refunded_minor),
       sum(voided)
FROM conversion_rollups GROUP BY 1, 2, 3;
