-- Graduated volume tiers of each price book version (docs/pricing.md §3): tokens of the month in
-- [start, next tier's start) are priced at `multiplier` (scale 6, see price_book_versions).
-- ORDER BY (version, start): one version's tiers come out in tier order.
-- No PARTITION BY: a handful of rows per version.
CREATE TABLE IF NOT EXISTS price_tiers
(
    version     UInt64,
    start       UInt64,
    multiplier  Decimal(18, 6)
)
ENGINE = MergeTree
ORDER BY (version, start)
