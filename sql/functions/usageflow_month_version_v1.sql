-- The price version that bills a month (docs/pricing.md §11): from `starts`, the sorted
-- (first_month, version) pairs of one time zone (price_month_versions), the version of the last
-- pair whose first_month <= `month` ('YYYY-MM'); `first_version` when none is (a zone the loader
-- did not list). Versions grow with effective_from, so the greatest qualifying one is the last.
-- Global to the server, never redefined under its name (see usageflow_tier_weight_v1.sql).
CREATE FUNCTION IF NOT EXISTS usageflow_month_version_v1 AS (starts, month, first_version) ->
    greatest(arrayMax(arrayMap(s -> if(s.1 <= month, s.2, toUInt64(0)), starts)), first_version)
