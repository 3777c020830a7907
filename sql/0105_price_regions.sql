-- Regions of each price book version (docs/pricing.md §1) with their multipliers (the region
-- cost hint of §9 uses the cheapest one).
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
