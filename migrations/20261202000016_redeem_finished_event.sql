-- redeem_codes (migrations 6 and 14) built a committed redemption's conversion event
-- itself, from a template with placeholders it filled in once the conversion had its id: a
-- second definition of the event beside the Rust one. Now the caller takes the
-- conversion's id from the table's sequence beforehand and sends the finished event
-- (`event`, JSON text) with that id (`conversion_id`); the function inserts the conversion
-- with that id and stores the event as given. Everything else is as in migration 14.
CREATE OR REPLACE FUNCTION redeem_codes(p_items jsonb)
RETURNS TABLE (idx integer, outcome text, redemption_id bigint, created_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    v_item record;
    v_it jsonb;
    v_code bigint;
    v_count bigint;
    v_max bigint;
    v_enabled boolean;
    v_taken bigint := 0;
    v_hold timestamptz;
    v_customer text;
    v_id bigint;
    v_created timestamptz;
    v_active bigint;
    v_conversion bigint;
BEGIN
    FOR v_item IN
        SELECT (e.ordinality - 1)::integer AS i, e.value AS item,
               (e.value->>'code_id')::bigint AS code_id
        FROM jsonb_array_elements(p_items) WITH ORDINALITY e
        ORDER BY 3, 1
    LOOP
        v_it := v_item.item;
        idx := v_item.i;
        redemption_id := NULL;
        created_at := NULL;
        IF v_code IS DISTINCT FROM v_item.code_id THEN
            IF v_taken > 0 THEN
                UPDATE promo_codes SET redemptions = redemptions + v_taken WHERE id = v_code;
            END IF;
            v_code := v_item.code_id;
            v_taken := 0;
            SELECT p.redemptions, p.max_redemptions, p.enabled INTO v_count, v_max, v_enabled
            FROM promo_codes p WHERE p.id = v_code FOR UPDATE;
        END IF;

        IF v_enabled IS NOT TRUE OR (v_max IS NOT NULL AND v_count + v_taken >= v_max) THEN
            -- A replay of an order that got its slot earlier is still a replay.
            SELECT r.id INTO v_id FROM redemptions r WHERE r.order_id = v_it->>'order_id';
            outcome := CASE
                WHEN v_id IS NOT NULL THEN 'duplicate'
                WHEN v_enabled IS NOT TRUE THEN 'code_inactive'
                ELSE 'usage_limit_reached'
            END;
            redemption_id := v_id;
            RETURN NEXT;
            CONTINUE;
        END IF;

        v_hold := (v_it->>'hold_until')::timestamptz;
        v_customer := v_it->>'customer_ref';
        INSERT INTO redemptions AS r (code_id, campaign_id, influencer_id, order_id, customer_ref,
                                      click_id, subtotal_minor, discount_minor, currency, status,
                                      hold_expires_at, request_hash, committed_at)
        VALUES (v_code, (v_it->>'campaign_id')::bigint, (v_it->>'influencer_id')::bigint,
                v_it->>'order_id', v_customer, v_it->>'click_id',
                (v_it->>'subtotal_minor')::bigint, (v_it->>'discount_minor')::bigint,
                v_it->>'currency', CASE WHEN v_hold IS NULL THEN 'committed' ELSE 'reserved' END,
                v_hold, v_it->>'request_hash',
                CASE WHEN v_hold IS NULL THEN (v_it->>'occurred_at')::timestamptz END)
        -- A concurrent batch inserting the same order: wait for it, then report a duplicate.
        ON CONFLICT (order_id) DO NOTHING
        RETURNING r.id, r.created_at INTO v_id, v_created;
        IF v_id IS NULL THEN
            SELECT r.id INTO v_id FROM redemptions r WHERE r.order_id = v_it->>'order_id';
            outcome := 'duplicate';
            redemption_id := v_id;
            RETURN NEXT;
            CONTINUE;
        END IF;

        IF v_customer IS NOT NULL THEN
            v_active := NULL;
            INSERT INTO code_customers AS cc (code_id, customer_ref, active)
            VALUES (v_code, v_customer, 1)
            ON CONFLICT (code_id, customer_ref) DO UPDATE SET active = cc.active + 1
                WHERE (v_it->>'max_per_customer') IS NULL
                   OR cc.active < (v_it->>'max_per_customer')::bigint
            RETURNING cc.active INTO v_active;
            IF v_active IS NULL THEN
                DELETE FROM redemptions WHERE id = v_id;
                outcome := 'customer_limit_reached';
                RETURN NEXT;
                CONTINUE;
            END IF;
        END IF;

        IF v_hold IS NULL AND jsonb_typeof(v_it->'event') = 'string'
           AND (v_it->>'conversion_id') IS NOT NULL THEN
            v_conversion := NULL;
            INSERT INTO conversions AS c (id, order_id, kind, amount_minor, currency,
                                          discount_minor, status, campaign_id, influencer_id,
                                          via, rule, code, click_id, customer_ref,
                                          redemption_id, occurred_at)
            OVERRIDING SYSTEM VALUE
            VALUES ((v_it->>'conversion_id')::bigint, v_it->>'order_id', 'sale',
                    (v_it->>'subtotal_minor')::bigint - (v_it->>'discount_minor')::bigint,
                    v_it->>'currency', (v_it->>'discount_minor')::bigint, 'attributed',
                    (v_it->>'campaign_id')::bigint, (v_it->>'influencer_id')::bigint, 'code',
                    'redemption', v_it->>'code', v_it->>'click_id', v_customer, v_id,
                    (v_it->>'occurred_at')::timestamptz)
            ON CONFLICT (order_id) DO NOTHING
            RETURNING c.id INTO v_conversion;
            IF v_conversion IS NOT NULL THEN
                INSERT INTO outbox (shard_key, payload) VALUES (v_conversion, v_it->>'event');
            END IF;
        END IF;

        v_taken := v_taken + 1;
        outcome := 'created';
        redemption_id := v_id;
        created_at := v_created;
        RETURN NEXT;
    END LOOP;
    IF v_taken > 0 THEN
        UPDATE promo_codes SET redemptions = redemptions + v_taken WHERE id = v_code;
    END IF;
END;
$$;
