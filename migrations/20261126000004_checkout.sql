-- Checkout: redemptions of promo codes, with holds, and the per-customer counters that keep
-- `max_per_customer` under concurrency.
--
-- A redemption's slot is counted in `promo_codes.redemptions` (and, with a customer, in
-- `code_customers.active`) while it is `reserved` or `committed`; releasing, expiring or
-- cancelling gives the slot back. Every move is a conditional UPDATE inside the deciding
-- transaction, never a read followed by a write.

CREATE TABLE redemptions (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code_id             bigint NOT NULL REFERENCES promo_codes (id),
    campaign_id         bigint NOT NULL,
    influencer_id       bigint NOT NULL,
    -- The shop's order: one redemption per order, and the key of idempotent replays.
    order_id            text NOT NULL CHECK (length(order_id) BETWEEN 1 AND 200),
    customer_ref        text CHECK (length(customer_ref) BETWEEN 1 AND 200),
    click_id            text CHECK (length(click_id) <= 64),
    subtotal_minor      bigint NOT NULL CHECK (subtotal_minor >= 0),
    discount_minor      bigint NOT NULL CHECK (discount_minor >= 0 AND discount_minor <= subtotal_minor),
    currency            char(3) NOT NULL,
    status              text NOT NULL
                        CHECK (status IN ('reserved', 'committed', 'released', 'expired', 'cancelled')),
    hold_expires_at     timestamptz,
    -- SHA-256 of the request's canonical form: the same order with another body is a 409.
    request_hash        text NOT NULL,
    committed_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT redemptions_order_key UNIQUE (order_id),
    CONSTRAINT redemptions_hold_check CHECK (status <> 'reserved' OR hold_expires_at IS NOT NULL)
);
CREATE INDEX redemptions_holds_idx ON redemptions (hold_expires_at) WHERE status = 'reserved';
CREATE INDEX redemptions_code_idx ON redemptions (code_id, id);

CREATE TABLE code_customers (
    code_id         bigint NOT NULL REFERENCES promo_codes (id),
    customer_ref    text NOT NULL,
    active          bigint NOT NULL DEFAULT 0 CHECK (active >= 0),
    PRIMARY KEY (code_id, customer_ref)
);
