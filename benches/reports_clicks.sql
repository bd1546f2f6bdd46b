-- Report benchmark data, part 2: :count more clicks (ids from :first) spread evenly over
-- the campaign's 90 days and its 50 links, in time order as the worker writes them, with
-- bots, repeat visitors, bursts and six dimensions; then the click rollups rebuilt from
-- all clicks, as the worker keeps them.
\set ON_ERROR_STOP on

INSERT INTO clicks (click_id, clicked_at, link_id, campaign_id, influencer_id, visitor,
                    ip_prefix, country, region, city, device, browser, os, referrer_host,
                    trigger, is_bot, is_unique, burst)
SELECT 'c' || g,
       '2026-06-01T00:00:00Z'::timestamptz + ((g - :first)::float8 / :count) * interval '90 days',
       link, 1, link, 'v' || (g * 31) % 200000, '10.0.0.0/24',
       (ARRAY['SE','GB','DE','US','FR','NO','DK','FI','NL','ES'])[1 + (g * 13) % 10],
       NULL, NULL,
       (ARRAY['mobile','mobile','desktop','tablet'])[1 + (g * 17) % 4],
       (ARRAY['Safari','Chrome','Firefox','Edge','Samsung Internet'])[1 + (g * 19) % 5],
       (ARRAY['iOS','Android','Windows','macOS','Linux'])[1 + (g * 23) % 5],
       (ARRAY['instagram.com','tiktok.com','youtube.com','twitter.com','facebook.com',NULL])[1 + (g * 29) % 6],
       CASE WHEN g % 10 = 0 THEN 'qr' ELSE 'link' END,
       g % 20 = 0, g % 20 <> 0 AND g % 3 <> 0, g % 100 = 1
FROM (SELECT g, 1 + (g * 7) % 50 AS link
      FROM generate_series(:first, :first + :count - 1) g) s;

TRUNCATE click_rollups, click_daily, click_dim_rollups;

INSERT INTO click_rollups (link_id, hour, campaign_id, influencer_id, clicks, unique_clicks,
                           bot_clicks, flagged_clicks, flagged_unique_clicks)
SELECT link_id, date_trunc('hour', clicked_at, 'UTC'), campaign_id, influencer_id,
       count(*) FILTER (WHERE NOT is_bot), count(*) FILTER (WHERE is_unique),
       count(*) FILTER (WHERE is_bot), count(*) FILTER (WHERE burst AND NOT is_bot),
       count(*) FILTER (WHERE burst AND is_unique)
FROM clicks GROUP BY 1, 2, 3, 4;

INSERT INTO click_daily (link_id, day, campaign_id, influencer_id, clicks, unique_clicks,
                         bot_clicks, flagged_clicks, flagged_unique_clicks)
SELECT link_id, (hour AT TIME ZONE 'UTC')::date, campaign_id, influencer_id, sum(clicks),
       sum(unique_clicks), sum(bot_clicks), sum(flagged_clicks), sum(flagged_unique_clicks)
FROM click_rollups GROUP BY 1, 2, 3, 4;

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

VACUUM ANALYZE clicks, click_rollups, click_daily, click_dim_rollups, conversion_rollups,
    conversion_daily, conversion_hourly;
