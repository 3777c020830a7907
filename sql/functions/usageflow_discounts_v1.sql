-- The three discount lines of an invoice, (prepaid, contract, educational), each 0.00 where the
-- discount does not apply. They compound in that order on the exact subtotal S / D
-- (S = F·D + L·W, see invoice_base_for):
--   prepaid     = S·(p − 1) / D
--   contract    = S·p·(c − 1) / D
--   educational = S·p·c·(e − 1) / D
-- each rounded once (usageflow_fen_v1). Factors are Decimal(18, 6); flags are 1 or 0.
-- Global to the server, never redefined under its name (see usageflow_tier_weight_v1.sql).
CREATE FUNCTION IF NOT EXISTS usageflow_discounts_v1 AS
    (subtotal_numerator, denominator, prepaid, contract, educational,
     prepaid_factor, contract_factor, educational_factor) ->
    (
        if(prepaid = 1,
           usageflow_fen_v1(subtotal_numerator * (toDecimal256(prepaid_factor, 6) - 1), denominator),
           toDecimal128(0, 2)),
        if(contract = 1,
           usageflow_fen_v1(subtotal_numerator * toDecimal256(prepaid_factor, 6)
                            * (toDecimal256(contract_factor, 6) - 1), denominator),
           toDecimal128(0, 2)),
        if(educational = 1,
           usageflow_fen_v1(subtotal_numerator * toDecimal256(prepaid_factor, 6)
                            * toDecimal256(contract_factor, 6)
                            * (toDecimal256(educational_factor, 6) - 1), denominator),
           toDecimal128(0, 2))
    )
