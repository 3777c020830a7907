-- plan_quotes_for: the plan options for the base month {month}, one {account} or all (''), and the
-- expected {growth} (e.g. 0.2): SELECT * FROM plan_quotes_for(month='2026-10', account='',
-- growth=0.2).
-- Next month's tokens P = base tokens × (1 + growth), rounded to a whole token (never below
-- 0); each plan of the price book (and payg) prices P with its fee and quota and the
-- account's discounts, at the base month's list-price mix: usage = L·W(billable(P)) / T, the
-- same exact arithmetic (and functions) as invoice_base_for. The account's current plan keeps its custom
-- additions (extra_tokens, extra_concurrent); the other plans are priced as listed.
-- Each row also carries the account's recommendation: the cheapest option
-- (ties: the current plan, then payg, then the smaller plan) and the saving against the
-- current plan, as window functions over the account's options.
CREATE OR REPLACE VIEW plan_quotes_for AS
SELECT
    *,
    anyIf(plan, is_current = 1) OVER w AS current_plan,
    anyIf(total, is_current = 1) OVER w AS current_cost,
    argMin(plan, (total, 1 - is_current, 1 - is_payg, monthly_tokens, plan)) OVER w
        AS recommended_plan,
    min(total) OVER w AS recommended_cost,
    current_cost - recommended_cost AS saving
FROM
(
    SELECT
        account_id,
        month,
        growth,
        option_plan AS plan,
        option_is_payg AS is_payg,
        option_monthly_tokens AS monthly_tokens,
        is_current,
        base_tokens,
        projected_tokens,
        option_quota AS quota,
        option_billable AS billable_tokens,
        if(option_is_payg = 1, toDecimal128(0, 2), CAST(round(option_fee, 2) AS Decimal(38, 2)))
            AS amount_plan_fee,
        usageflow_fen_v1(q_usage_numerator, denominator) AS amount_usage,
        q_discounts.1 AS amount_discount_prepaid,
        q_discounts.2 AS amount_discount_contract,
        q_discounts.3 AS amount_discount_educational,
        amount_plan_fee + amount_usage + amount_discount_prepaid + amount_discount_contract
            + amount_discount_educational AS total
    FROM
    (
        SELECT
            x_base.account_id AS account_id,
            x_base.month AS month,
            {growth:Decimal(38, 12)} AS growth,
            x_option.plan AS option_plan,
            x_option.is_payg AS option_is_payg,
            x_option.monthly_tokens AS option_monthly_tokens,
            toUInt8(x_option.plan = x_base.plan) AS is_current,
            x_base.tokens AS base_tokens,
            toUInt64(greatest(0, round(toDecimal256(x_base.tokens, 0) * (1 + toDecimal256(growth, 12)), 0)))
                AS projected_tokens,
            if(option_is_payg = 1, toUInt64(0),
               x_option.monthly_tokens + if(is_current = 1, x_base.extra_tokens, 0)) AS option_quota,
            if(option_is_payg = 1, toDecimal128(0, 15),
               if(is_current = 1, x_base.fee, toDecimal128(x_option.monthly_fee, 15))) AS option_fee,
            if(projected_tokens > option_quota, projected_tokens - option_quota, 0) AS option_billable,
            x_base.prepaid AS prepaid,
            x_base.contract AS contract,
            x_base.educational AS educational,
            x_base.prepaid_factor AS prepaid_factor,
            x_base.contract_factor AS contract_factor,
            x_base.educational_factor AS educational_factor,
            x_base.denominator AS denominator,
            usageflow_tier_weight_v1(option_billable, x_book.tier_starts, x_book.tier_ends,
                                     x_book.tier_multipliers) AS q_tier_weight,
            toDecimal256(x_base.list_cost, 12) * q_tier_weight AS q_usage_numerator,
            toDecimal256(option_fee, 15) * denominator + q_usage_numerator AS q_subtotal_numerator,
            usageflow_discounts_v1(q_subtotal_numerator, denominator, prepaid, contract, educational,
                                   prepaid_factor, contract_factor, educational_factor) AS q_discounts
        FROM invoice_base_for(month_from = {month:String}, month_to = {month:String},
                              account = {account:String}) AS x_base
        CROSS JOIN plan_options AS x_option
        CROSS JOIN price_book_current AS x_book
    )
)
WINDOW w AS (PARTITION BY account_id, month)
