-- Plans of each price book version (docs/pricing.md §4), including a `payg` row (is_payg = 1,
-- no tokens, no fee) so every account, with or without a plan, joins to exactly one row.
-- ORDER BY (version, plan): readers filter one version and join on plan.
-- No PARTITION BY: a handful of rows per version.
CREATE TABLE IF NOT EXISTS price_plans
(
    version         UInt64,
    plan            LowCardinality(String),
    is_payg         UInt8,
    monthly_tokens  UInt64,
    max_concurrent  UInt32,
    monthly_fee     Decimal(38, 12)
)
ENGINE = MergeTree
ORDER BY (version, plan)
