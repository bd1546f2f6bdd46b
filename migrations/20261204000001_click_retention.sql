-- Raw clicks are kept for ATTRIB_CLICK_RETENTION_DAYS when it is set: the worker drops every
-- month partition of `clicks` that ends at or before the cutoff. Rollups, conversions and
-- reports never read `clicks`, so their figures do not change.
CREATE FUNCTION drop_click_partitions_before(cutoff timestamptz) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    part record;
    ends_at timestamptz;
BEGIN
    FOR part IN
        SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'clicks'::regclass
        ORDER BY c.relname
    LOOP
        -- FOR VALUES FROM ('…') TO ('…'), in this session's time zone.
        ends_at := substring(part.bound FROM 'TO \(''([^'']+)''\)')::timestamptz;
        IF ends_at IS NOT NULL AND ends_at <= cutoff THEN
            EXECUTE format('DROP TABLE %I', part.name);
            RETURN NEXT part.name;
        END IF;
    END LOOP;
END;
$$;
