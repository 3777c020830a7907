-- Regions of each price book version with their multipliers (the region
-- cost hint uses the cheapest one).
-- ORDER BY (version, region): readers filter one version.
-- No PARTITION BY: a handful of rows per version.
CREATE TABLE IF NOT EXISTS price_regions
(
    version     UInt64,
    region      LowCardinality(String),
    multiplier  Decimal(38, 12)
)
ENGINE = MergeTree
ORDER BY (version, region)
