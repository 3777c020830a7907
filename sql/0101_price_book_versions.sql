-- One row per loaded price book (usageflow.billing.tables.load_price_book): the scalar
-- parameters of docs/pricing.md §1, §4, §5 and §9. A load writes plans, tiers, models and regions
-- first and this row last, so readers (the view `price_book`) only ever see complete versions;
-- older versions stay as history.
-- Tier multipliers and discount factors are Decimal(18, 6): the invoice views multiply up to
-- three factors onto a scale-18 numerator inside Decimal256, and scale 6 keeps that exact with
-- 40 integer digits to spare (the loader rejects factors with more than 6 decimals).
-- ORDER BY version: readers look up max(version) and then that one version.
-- No PARTITION BY: a handful of rows.
CREATE TABLE IF NOT EXISTS price_book_versions
(
    version                    UInt64,
    book_hash                  String,
    loaded_at                  DateTime64(3, 'UTC'),
    currency                   LowCardinality(String),
    billing_timezone           String,
    base_per_1k                Decimal(38, 12),
    default_region_multiplier  Decimal(38, 12),
    off_peak_start_hour        UInt8,
    off_peak_end_hour          UInt8,
    off_peak_multiplier        Decimal(18, 6),
    prepaid_factor             Decimal(18, 6),
    contract_factor            Decimal(18, 6),
    contract_min_months        UInt32,
    educational_factor         Decimal(18, 6),
    extra_tokens_per_1k        Decimal(38, 12),
    extra_concurrent_each      Decimal(38, 12),
    off_peak_shiftable_share   Decimal(18, 6),
    light_model                String,
    light_eligible_features    Array(String)
)
ENGINE = MergeTree
ORDER BY version
