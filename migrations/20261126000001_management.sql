-- Configuration tables of the management API. Every rule a client could break is also a
-- constraint here, so no code path (a bug, a manual psql session) can store an invalid row.

CREATE TABLE campaigns (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                    text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    slug                    text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    currency                char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    starts_at               timestamptz NOT NULL,
    ends_at                 timestamptz,
    budget_minor            bigint CHECK (budget_minor >= 0),
    goal                    text NOT NULL DEFAULT 'conversions'
                            CHECK (goal IN ('awareness', 'traffic', 'conversions', 'revenue')),
    goal_target             double precision CHECK (goal_target >= 0),
    attribution_window_days integer NOT NULL DEFAULT 30
                            CHECK (attribution_window_days BETWEEN 1 AND 365),
    margin_bps              integer CHECK (margin_bps BETWEEN 0 AND 10000),
    attribution_priority    text NOT NULL DEFAULT 'code' CHECK (attribution_priority IN ('code', 'click')),
    -- NULL: the status follows the dates; otherwise a manager's explicit choice.
    status_override         text CHECK (status_override IN ('draft', 'active', 'ended')),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT campaigns_slug_key UNIQUE (slug),
    CONSTRAINT campaigns_dates_check CHECK (ends_at IS NULL OR ends_at > starts_at)
);

CREATE TABLE influencers (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    handle          text NOT NULL CHECK (handle ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    display_name    text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    platform        text CHECK (length(platform) BETWEEN 1 AND 40),
    followers       bigint CHECK (followers >= 0),
    contact_email   text CHECK (length(contact_email) <= 254),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT influencers_handle_key UNIQUE (handle)
);

CREATE TABLE enrollments (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id         bigint NOT NULL REFERENCES campaigns (id),
    influencer_id       bigint NOT NULL REFERENCES influencers (id),
    flat_fee_minor      bigint NOT NULL DEFAULT 0 CHECK (flat_fee_minor >= 0),
    flat_fee_basis      text NOT NULL DEFAULT 'campaign' CHECK (flat_fee_basis IN ('campaign', 'post')),
    cpc_minor           bigint NOT NULL DEFAULT 0 CHECK (cpc_minor >= 0),
    cpa_minor           bigint NOT NULL DEFAULT 0 CHECK (cpa_minor >= 0),
    revenue_share_bps   integer NOT NULL DEFAULT 0 CHECK (revenue_share_bps BETWEEN 0 AND 10000),
    target_metric       text,
    target_value        double precision CHECK (target_value >= 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT enrollments_campaign_influencer_key UNIQUE (campaign_id, influencer_id),
    CONSTRAINT enrollments_target_check CHECK ((target_metric IS NULL) = (target_value IS NULL))
);
CREATE INDEX enrollments_influencer_idx ON enrollments (influencer_id);

CREATE TABLE links (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug            text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    campaign_id     bigint NOT NULL,
    influencer_id   bigint NOT NULL,
    destination     text NOT NULL CHECK (length(destination) BETWEEN 1 AND 2048 AND destination ~* '^https?://'),
    -- {source, medium, campaign, content?, term?}, defaults resolved when the link is made.
    utm             jsonb NOT NULL CHECK (jsonb_typeof(utm) = 'object'),
    expires_at      timestamptz,
    max_clicks      bigint CHECK (max_clicks > 0),
    fallback_url    text CHECK (length(fallback_url) BETWEEN 1 AND 2048 AND fallback_url ~* '^https?://'),
    rules           jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(rules) = 'array'),
    forward_query   boolean NOT NULL DEFAULT false,
    enabled         boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT links_slug_key UNIQUE (slug),
    -- A link can only exist for an influencer enrolled in its campaign.
    CONSTRAINT links_enrollment_fkey FOREIGN KEY (campaign_id, influencer_id)
        REFERENCES enrollments (campaign_id, influencer_id)
);
CREATE INDEX links_campaign_idx ON links (campaign_id, id);
CREATE INDEX links_influencer_idx ON links (influencer_id, id);

CREATE TABLE promo_codes (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Stored upper-case: codes are case-insensitive, and one canonical form keeps the
    -- unique index honest.
    code                text NOT NULL CHECK (code ~ '^[A-Z0-9][A-Z0-9_-]{1,39}$'),
    campaign_id         bigint NOT NULL,
    influencer_id       bigint NOT NULL,
    discount_kind       text NOT NULL CHECK (discount_kind IN ('percent', 'fixed', 'free_shipping')),
    discount_value      bigint NOT NULL DEFAULT 0,
    max_redemptions     bigint CHECK (max_redemptions > 0),
    max_per_customer    bigint CHECK (max_per_customer > 0),
    min_subtotal_minor  bigint CHECK (min_subtotal_minor >= 0),
    starts_at           timestamptz,
    ends_at             timestamptz,
    enabled             boolean NOT NULL DEFAULT true,
    -- Reserved plus committed redemptions; the redemption path moves it with a conditional
    -- UPDATE so the limit holds under concurrency.
    redemptions         bigint NOT NULL DEFAULT 0 CHECK (redemptions >= 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT promo_codes_code_key UNIQUE (code),
    CONSTRAINT promo_codes_enrollment_fkey FOREIGN KEY (campaign_id, influencer_id)
        REFERENCES enrollments (campaign_id, influencer_id),
    CONSTRAINT promo_codes_discount_check CHECK (
        (discount_kind = 'percent' AND discount_value BETWEEN 1 AND 10000)
        OR (discount_kind = 'fixed' AND discount_value > 0)
        OR (discount_kind = 'free_shipping' AND discount_value = 0)),
    CONSTRAINT promo_codes_dates_check CHECK (ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at),
    CONSTRAINT promo_codes_limit_check CHECK (max_redemptions IS NULL OR redemptions <= max_redemptions)
);
CREATE INDEX promo_codes_campaign_idx ON promo_codes (campaign_id, id);
CREATE INDEX promo_codes_influencer_idx ON promo_codes (influencer_id, id);

CREATE TABLE posts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id     bigint NOT NULL,
    influencer_id   bigint NOT NULL,
    platform        text CHECK (length(platform) BETWEEN 1 AND 40),
    url             text CHECK (length(url) BETWEEN 1 AND 2048),
    published_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT posts_enrollment_fkey FOREIGN KEY (campaign_id, influencer_id)
        REFERENCES enrollments (campaign_id, influencer_id)
);
CREATE INDEX posts_campaign_idx ON posts (campaign_id, influencer_id);

CREATE TABLE post_metrics (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    post_id         bigint NOT NULL REFERENCES posts (id),
    impressions     bigint CHECK (impressions >= 0),
    reach           bigint CHECK (reach >= 0),
    likes           bigint CHECK (likes >= 0),
    comments        bigint CHECK (comments >= 0),
    shares          bigint CHECK (shares >= 0),
    saves           bigint CHECK (saves >= 0),
    views           bigint CHECK (views >= 0),
    source          text NOT NULL CHECK (source IN ('self_reported', 'verified', 'api')),
    captured_at     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX post_metrics_latest_idx ON post_metrics (post_id, captured_at DESC, id DESC);

CREATE TABLE cost_lines (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id     bigint NOT NULL REFERENCES campaigns (id),
    influencer_id   bigint REFERENCES influencers (id),
    kind            text NOT NULL CHECK (kind IN ('gifting', 'shipping', 'agency_fee', 'other')),
    amount_minor    bigint NOT NULL CHECK (amount_minor >= 0),
    description     text CHECK (length(description) <= 500),
    incurred_at     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT cost_lines_enrollment_fkey FOREIGN KEY (campaign_id, influencer_id)
        REFERENCES enrollments (campaign_id, influencer_id)
);
CREATE INDEX cost_lines_campaign_idx ON cost_lines (campaign_id, id);

CREATE TABLE api_keys (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    scope           text NOT NULL CHECK (scope IN ('admin', 'checkout', 'analyst')),
    -- The first characters of the secret: shown in lists so a key can be recognised, and
    -- used to find the row before the constant-time hash comparison.
    prefix          text NOT NULL,
    secret_hash     bytea NOT NULL CHECK (length(secret_hash) = 32),
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz,
    revoked_at      timestamptz,
    CONSTRAINT api_keys_prefix_key UNIQUE (prefix)
);
