-- Click facts, written by the worker from the event streams.
--
-- `clicks` is partitioned by month of `clicked_at`; the worker creates partitions as the
-- events it sees need them (ahead of time for the coming months, and for late events).
-- The primary key includes the partition key as Postgres requires; a click id encodes its
-- click time, so (click_id, clicked_at) is as unique as click_id alone. Raw addresses are
-- never stored: `ip_prefix` keeps the /24 (IPv4) or /48 (IPv6) network.

CREATE TABLE clicks (
    click_id        text NOT NULL,
    clicked_at      timestamptz NOT NULL,
    link_id         bigint NOT NULL,
    campaign_id     bigint NOT NULL,
    influencer_id   bigint NOT NULL,
    visitor         text NOT NULL,
    ip_prefix       text,
    country         text,
    region          text,
    city            text,
    device          text NOT NULL,
    browser         text,
    os              text,
    referrer_host   text,
    trigger         text NOT NULL CHECK (trigger IN ('link', 'qr')),
    is_bot          boolean NOT NULL,
    is_unique       boolean NOT NULL,
    ingested_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (click_id, clicked_at)
) PARTITION BY RANGE (clicked_at);

-- No secondary index: reports read the rollups, and every index here is paid on each of
-- the millions of inserted rows.

-- First non-bot click of a visitor on a link per UTC day: the unique (billable) click.
-- Rows only need to outlive late events; the worker prunes old days.
CREATE TABLE visitor_days (
    link_id     bigint NOT NULL,
    day         date NOT NULL,
    visitor     text NOT NULL,
    click_id    text NOT NULL,
    PRIMARY KEY (link_id, day, visitor)
);

-- Hourly rollups per link × country × device: what link totals and reports read, so their
-- cost does not grow with the number of raw clicks. Updated only from rows actually
-- inserted into `clicks`, in the same transaction.
CREATE TABLE click_rollups (
    link_id         bigint NOT NULL,
    hour            timestamptz NOT NULL,
    country         text NOT NULL DEFAULT '',
    device          text NOT NULL DEFAULT '',
    campaign_id     bigint NOT NULL,
    influencer_id   bigint NOT NULL,
    clicks          bigint NOT NULL DEFAULT 0 CHECK (clicks >= 0),
    unique_clicks   bigint NOT NULL DEFAULT 0 CHECK (unique_clicks >= 0),
    bot_clicks      bigint NOT NULL DEFAULT 0 CHECK (bot_clicks >= 0),
    PRIMARY KEY (link_id, hour, country, device)
);
CREATE INDEX click_rollups_campaign_idx ON click_rollups (campaign_id, hour);

-- Creates the month partition of `clicks` holding `at`, if missing.
CREATE FUNCTION ensure_click_partition(at timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    month_start timestamptz := date_trunc('month', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    name text := 'clicks_' || to_char(month_start AT TIME ZONE 'UTC', 'YYYY_MM');
BEGIN
    IF to_regclass(name) IS NULL THEN
        EXECUTE format(
            'CREATE TABLE IF NOT EXISTS %I PARTITION OF clicks FOR VALUES FROM (%L) TO (%L)',
            name, month_start, month_start + interval '1 month');
    END IF;
END;
$$;
