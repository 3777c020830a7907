-- The tier weight W(tokens) of the graduated volume tiers (docs/analysts.md, "Conventions"):
-- Σ over tiers of (tokens of `tokens` that fall in the tier) × the tier's multiplier, exact in
-- Decimal256 at scale 6. The tier arrays are price_book's tier_starts, tier_ends (tier_ends[i]
-- = tier_starts[i + 1], the last one 2^64 - 1) and tier_multipliers. Every view that prices a
-- token count (invoices, the usage report's estimate, the plan quotes) calls this one function.
--
-- SQL functions belong to the whole ClickHouse server, not to a database: several usageflow
-- databases on one server share them. So a function never changes under its name: a new
-- definition is a new file with the next `_vN` suffix, and migrate refuses to apply a file
-- whose name already exists on the server with another body (docs/design.md, "Migrations").
CREATE FUNCTION IF NOT EXISTS usageflow_tier_weight_v1 AS (tokens, tier_starts, tier_ends, tier_multipliers) ->
    arraySum(arrayMap(
        (tier_start, tier_end, multiplier) ->
            toDecimal256(if(tokens > tier_start, least(tokens, tier_end) - tier_start, 0), 0)
            * toDecimal256(multiplier, 6),
        tier_starts, tier_ends, tier_multipliers
    ))
