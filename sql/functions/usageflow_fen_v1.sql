-- An exact amount (numerator / denominator, both Decimal256) rounded once to 0.01, half away
-- from zero (round() on Decimal), as Decimal(38, 2). The one division truncates at the
-- numerator's scale (at least 18), which cannot move a value across a half-fen boundary.
-- Global to the server, never redefined under its name (see usageflow_tier_weight_v1.sql).
CREATE FUNCTION IF NOT EXISTS usageflow_fen_v1 AS (numerator, denominator) ->
    CAST(round(numerator / denominator, 2) AS Decimal(38, 2))
