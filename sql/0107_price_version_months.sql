-- Which price version bills which month: plan fees, quotas, tiers and discounts of a month come
-- from the version in force at the month's first instant in the account's billing time zone
-- (docs/pricing.md §11). That instant depends on the zone, and ClickHouse converts times only to
-- constant zones, so the loader computes, for every version and every IANA time zone, the first
-- month it bills ('0000-00' for a load's first version: it bills every month before the next
-- one). A month is billed by the version with the greatest first_month <= month.
-- ORDER BY (version, timezone): the views read the versions of one load, grouped by zone.
CREATE TABLE IF NOT EXISTS price_version_months
(
    version      UInt64,
    timezone     LowCardinality(String),
    first_month  String
)
ENGINE = MergeTree
ORDER BY (version, timezone)
