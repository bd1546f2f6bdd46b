-- Money in the conversion rollups is summed over every accepted request of an hour or a
-- day, and no bound on one amount bounds the number of requests: 9 300 conversions of
-- 10^15 minor units overflowed a bigint sum, and each batch holding the next one failed
-- for good. As numeric, the sums are exact for any number of conversions. Reports read
-- them back through saturating_bigint: a total beyond what an i64 holds shows as its
-- largest value instead of failing the report.
ALTER TABLE conversion_rollups
    ALTER COLUMN revenue_minor TYPE numeric,
    ALTER COLUMN discount_minor TYPE numeric,
    ALTER COLUMN refunded_minor TYPE numeric;

ALTER TABLE conversion_daily
    ALTER COLUMN revenue_minor TYPE numeric,
    ALTER COLUMN discount_minor TYPE numeric,
    ALTER COLUMN refunded_minor TYPE numeric;

ALTER TABLE conversion_hourly
    ALTER COLUMN revenue_minor TYPE numeric,
    ALTER COLUMN refunded_minor TYPE numeric;

CREATE FUNCTION saturating_bigint(value numeric) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN least(greatest(value, -9223372036854775808), 9223372036854775807)::bigint;
