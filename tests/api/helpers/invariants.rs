//! Invariants: every rollup table equals a recount of the facts it is made from.

use sqlx::PgPool;

/// Click rollups must always equal a recount of the facts.
pub async fn assert_rollups_match_facts(db: &PgPool) {
    let mismatches: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (
           SELECT link_id, date_trunc('hour', clicked_at, 'UTC') AS hour, campaign_id,
                  influencer_id, count(*) FILTER (WHERE NOT is_bot) AS clicks,
                  count(*) FILTER (WHERE is_unique) AS unique_clicks, count(*) FILTER (WHERE is_bot) AS bots
           FROM clicks GROUP BY 1, 2, 3, 4) facts
         FULL JOIN click_rollups r USING (link_id, hour, campaign_id, influencer_id)
         WHERE facts.clicks IS DISTINCT FROM r.clicks
            OR facts.unique_clicks IS DISTINCT FROM r.unique_clicks
            OR facts.bots IS DISTINCT FROM r.bot_clicks",
    )
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(
        mismatches, 0,
        "link rollups differ from a recount of clicks"
    );
    let mismatches: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (
           SELECT campaign_id, dim.dimension, date_trunc('hour', clicked_at, 'UTC') AS hour,
                  dim.value, count(*) FILTER (WHERE NOT is_bot) AS clicks,
                  count(*) FILTER (WHERE is_unique) AS unique_clicks, count(*) FILTER (WHERE is_bot) AS bots
           FROM clicks
           CROSS JOIN LATERAL (VALUES ('country', coalesce(country, '')), ('device', device),
                                      ('browser', coalesce(browser, '')), ('os', coalesce(os, '')),
                                      ('referrer', coalesce(referrer_host, '')), ('trigger', trigger))
                      AS dim(dimension, value)
           GROUP BY 1, 2, 3, 4) facts
         FULL JOIN click_dim_rollups r USING (campaign_id, dimension, hour, value)
         WHERE facts.clicks IS DISTINCT FROM r.clicks
            OR facts.unique_clicks IS DISTINCT FROM r.unique_clicks
            OR facts.bots IS DISTINCT FROM r.bot_clicks",
    )
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(
        mismatches, 0,
        "dimension rollups differ from a recount of clicks"
    );
    let mismatches: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (
           SELECT link_id, (clicked_at AT TIME ZONE 'UTC')::date AS day,
                  count(*) FILTER (WHERE NOT is_bot) AS clicks,
                  count(*) FILTER (WHERE is_unique) AS unique_clicks,
                  count(*) FILTER (WHERE is_bot) AS bots,
                  count(*) FILTER (WHERE burst AND is_unique) AS flagged_unique
           FROM clicks GROUP BY 1, 2) facts
         FULL JOIN click_daily d USING (link_id, day)
         WHERE facts.clicks IS DISTINCT FROM d.clicks
            OR facts.unique_clicks IS DISTINCT FROM d.unique_clicks
            OR facts.bots IS DISTINCT FROM d.bot_clicks
            OR facts.flagged_unique IS DISTINCT FROM d.flagged_unique_clicks",
    )
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(
        mismatches, 0,
        "daily rollups differ from a recount of clicks"
    );
}

/// Conversion rollups must always equal a recount of the conversions as they stand now
/// (credit, refunds, cancellation, fraud signals), once every event is ingested.
pub async fn assert_conversion_rollups_match_facts(db: &PgPool) {
    type Mismatch = (
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );
    let mismatches: Vec<Mismatch> = sqlx::query_as(
        "WITH signals AS (
               -- The fraud signals of domain::fraud, read again from the facts: the click
               -- id's link and time (bytes 2-9 and 10-15 of the id), the default 15 s.
               SELECT c.*, l.influencer_id AS click_influencer,
                      to_timestamp(('x' || encode(substring(decode(translate(c.click_id, '-_', '+/'),
                                                                    'base64') FROM 10 FOR 6), 'hex'))
                                   ::bit(48)::bigint / 1000.0) AS clicked_at
               FROM conversions c LEFT JOIN links l ON l.id = click_link_id(c.click_id)),
             facts AS (
               SELECT campaign_id, influencer_id, date_trunc('hour', occurred_at, 'UTC') AS hour,
                      via, kind, coalesce(link_id, 0) AS link_id, coalesce(code, '') AS code,
                      count(*) AS conversions, sum(amount_minor) AS revenue_minor,
                      sum(CASE WHEN cancelled_at IS NOT NULL THEN amount_minor
                               ELSE refunded_minor END) AS refunded_minor,
                      count(*) FILTER (WHERE cancelled_at IS NOT NULL
                                         OR (amount_minor > 0 AND refunded_minor = amount_minor))
                        AS voided,
                      count(*) FILTER (
                        WHERE cancelled_at IS NULL
                          AND NOT (amount_minor > 0 AND refunded_minor = amount_minor)
                          AND ((click_influencer IS NOT NULL
                                AND occurred_at - clicked_at < interval '15 seconds')
                               OR (via = 'code' AND click_influencer IS DISTINCT FROM influencer_id)))
                        AS flagged
               FROM signals WHERE status = 'attributed'
               GROUP BY 1, 2, 3, 4, 5, 6, 7),
             rolled AS (
               SELECT * FROM conversion_rollups
               WHERE conversions <> 0 OR revenue_minor <> 0 OR refunded_minor <> 0 OR voided <> 0
                  OR flagged <> 0)
             SELECT f.conversions, r.conversions, f.revenue_minor, r.revenue_minor, r.voided,
                    f.flagged, r.flagged
             FROM facts f
             FULL JOIN rolled r USING (campaign_id, influencer_id, hour, via, kind, link_id, code)
             WHERE f.conversions IS DISTINCT FROM r.conversions
                OR f.revenue_minor IS DISTINCT FROM r.revenue_minor
                OR f.refunded_minor IS DISTINCT FROM r.refunded_minor
                OR f.voided IS DISTINCT FROM r.voided
                OR f.flagged IS DISTINCT FROM r.flagged",
    )
    .fetch_all(db)
    .await
    .unwrap();
    assert!(
        mismatches.is_empty(),
        "conversion rollups differ from a recount: {mismatches:?}"
    );
    let daily_mismatches: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (
           SELECT campaign_id, influencer_id, (hour AT TIME ZONE 'UTC')::date AS day, via, kind,
                  link_id, code, sum(conversions) AS conversions,
                  sum(revenue_minor) AS revenue_minor, sum(refunded_minor) AS refunded_minor,
                  sum(voided) AS voided, sum(flagged) AS flagged
           FROM conversion_rollups GROUP BY 1, 2, 3, 4, 5, 6, 7) hourly
         FULL JOIN conversion_daily d USING (campaign_id, influencer_id, day, via, kind, link_id, code)
         WHERE hourly.conversions IS DISTINCT FROM d.conversions
            OR hourly.revenue_minor IS DISTINCT FROM d.revenue_minor
            OR hourly.refunded_minor IS DISTINCT FROM d.refunded_minor
            OR hourly.voided IS DISTINCT FROM d.voided
            OR hourly.flagged IS DISTINCT FROM d.flagged",
    )
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(
        daily_mismatches, 0,
        "daily conversion rollups differ from the hourly ones"
    );
    let campaign_mismatches: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (
           SELECT campaign_id, hour, kind, sum(conversions) AS conversions,
                  sum(revenue_minor) AS revenue_minor, sum(refunded_minor) AS refunded_minor,
                  sum(voided) AS voided
           FROM conversion_rollups GROUP BY 1, 2, 3) hourly
         FULL JOIN conversion_hourly c USING (campaign_id, hour, kind)
         WHERE hourly.conversions IS DISTINCT FROM c.conversions
            OR hourly.revenue_minor IS DISTINCT FROM c.revenue_minor
            OR hourly.refunded_minor IS DISTINCT FROM c.refunded_minor
            OR hourly.voided IS DISTINCT FROM c.voided",
    )
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(
        campaign_mismatches, 0,
        "campaign hourly sales differ from the rollups"
    );
}
