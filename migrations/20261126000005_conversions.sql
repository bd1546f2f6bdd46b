-- Conversions: what the checkout reports (or a committed redemption creates), with the
-- attribution decided when it arrived; refunds against them; and the outbox that carries
-- each of these to the event streams exactly once in effect.

CREATE TABLE conversions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id        text NOT NULL CHECK (length(order_id) BETWEEN 1 AND 200),
    kind            text NOT NULL CHECK (kind ~ '^[a-z0-9][a-z0-9_-]{0,39}$'),
    amount_minor    bigint NOT NULL CHECK (amount_minor >= 0),
    currency        char(3) NOT NULL,
    discount_minor  bigint NOT NULL DEFAULT 0 CHECK (discount_minor >= 0),
    refunded_minor  bigint NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0),
    cancelled_at    timestamptz,
    status          text NOT NULL CHECK (status IN ('attributed', 'unattributed', 'unqualified')),
    campaign_id     bigint REFERENCES campaigns (id),
    influencer_id   bigint REFERENCES influencers (id),
    link_id         bigint REFERENCES links (id),
    via             text CHECK (via IN ('code', 'click')),
    -- Which rule decided, in words a manager can check (see domain::attribution).
    rule            text NOT NULL,
    code            text,
    click_id        text,
    customer_ref    text,
    redemption_id   bigint REFERENCES redemptions (id),
    occurred_at     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT conversions_order_key UNIQUE (order_id),
    CONSTRAINT conversions_refund_check CHECK (refunded_minor <= amount_minor),
    CONSTRAINT conversions_attribution_check CHECK (
        (status = 'attributed') = (campaign_id IS NOT NULL AND influencer_id IS NOT NULL AND via IS NOT NULL))
);
CREATE INDEX conversions_campaign_idx ON conversions (campaign_id, occurred_at);

CREATE TABLE conversion_refunds (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversion_id   bigint NOT NULL REFERENCES conversions (id),
    amount_minor    bigint NOT NULL CHECK (amount_minor > 0),
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Events written in the same transaction as the change they describe; a relay moves them
-- to the streams and deletes them. A crash between the XADD and the delete sends an event
-- twice; the worker stores each event id once.
CREATE TABLE outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shard_key   bigint NOT NULL,
    payload     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The worker's side: every conversion, refund and cancellation event once, and hourly
-- rollups per campaign × influencer made from the rows actually inserted.
CREATE TABLE conversion_events (
    event_id        text PRIMARY KEY,
    event_type      text NOT NULL CHECK (event_type IN ('conversion', 'refund', 'cancellation')),
    conversion_id   bigint NOT NULL,
    campaign_id     bigint,
    influencer_id   bigint,
    link_id         bigint,
    via             text,
    kind            text NOT NULL,
    -- conversion: the amount; refund: the refunded amount; cancellation: what was left.
    amount_minor    bigint NOT NULL,
    discount_minor  bigint NOT NULL DEFAULT 0,
    currency        char(3) NOT NULL,
    occurred_at     timestamptz NOT NULL,
    ingested_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE conversion_rollups (
    campaign_id     bigint NOT NULL,
    influencer_id   bigint NOT NULL,
    hour            timestamptz NOT NULL,
    via             text NOT NULL,
    conversions     bigint NOT NULL DEFAULT 0,
    revenue_minor   bigint NOT NULL DEFAULT 0,
    discount_minor  bigint NOT NULL DEFAULT 0,
    refunded_minor  bigint NOT NULL DEFAULT 0,
    cancelled       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, influencer_id, hour, via)
) WITH (fillfactor = 70);
