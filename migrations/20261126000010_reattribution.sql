-- Re-attribution: recomputing who gets the credit for a campaign's conversions after its
-- window or priority changed.

ALTER TABLE conversion_events DROP CONSTRAINT conversion_events_event_type_check;
ALTER TABLE conversion_events ADD CONSTRAINT conversion_events_event_type_check
    CHECK (event_type IN ('conversion', 'refund', 'cancellation', 'reattribution'));

-- Bumped each time the credit moves: it names the move's event, so moving again makes a
-- new event and repeating a move makes none.
ALTER TABLE conversions ADD COLUMN attribution_version integer NOT NULL DEFAULT 0;

-- The link a click id names (bytes 1–8 of the base64url id, big-endian; see
-- domain::click_id), so a campaign's conversions can be found by their clicks.
CREATE FUNCTION click_link_id(click_id text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN length(click_id) = 36 THEN
        ('x' || encode(substring(decode(translate(click_id, '-_', '+/'), 'base64') FROM 2 FOR 8),
                      'hex'))::bit(64)::bigint
    END
$$;
CREATE INDEX conversions_click_link_idx ON conversions (click_link_id(click_id))
    WHERE click_id IS NOT NULL;
CREATE INDEX conversions_code_idx ON conversions (code) WHERE code IS NOT NULL;
