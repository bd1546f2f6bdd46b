-- Every redemption updates its code's row (the `redemptions` counter). With full pages a
-- third of those updates could not stay on the row's page, so each also added entries to
-- all four of the table's indexes, and a hot code's lookups waded through the dead ones.
-- Free room on each page keeps the updates HOT (heap-only). Applies to pages written from
-- now on; `VACUUM FULL promo_codes` rewrites existing ones.
ALTER TABLE promo_codes SET (fillfactor = 50);
