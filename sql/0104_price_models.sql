-- Models of each price book version (docs/pricing.md §1): prices per 1,000 tokens as the stream
-- rates them, the multiplier against the flagship base price, and the flagship flag (used by
-- the light-model cost hint of §9).
-- ORDER BY (version, model): readers filter one version and join on model.
-- No PARTITION BY: a handful of rows per version.
CREATE TABLE IF NOT EXISTS price_models
(
    version        UInt64,
    model          LowCardinality(String),
    multiplier     Decimal(38, 12),
    input_per_1k   Decimal(38, 12),
    output_per_1k  Decimal(38, 12),
    flagship       UInt8
)
ENGINE = MergeTree
ORDER BY (version, model)
