-- invoice_revisions: every issued invoice priced again now. The month's usage as stored now
-- (monthly_usage: late events, re-rated list costs) is billed with the terms frozen in the
-- issued invoice (plan fee, quota, discounts, tiers), with the same arithmetic and rounding as
-- invoice_base_for (usageflow_tier_weight_v1, usageflow_fen_v1, usageflow_discounts_v1).
--   charges_now  the month's own lines (plan_fee + usage + discounts) as they would be now
--   carried      the adjustment lines for this month already on issued invoices of the account
--   pending      charges_now − charges − carried: the difference not carried yet (0.00 when
--                nothing changed); it is shown on the account's first open month as an
--                `adjustment` line until that month is issued.
CREATE OR REPLACE VIEW invoice_revisions AS
SELECT
    month,
    account_id,
    number,
    tokens AS tokens_issued,
    list_cost AS list_cost_issued,
    charges,
    tokens_now,
    list_cost_now,
    billable_now,
    amount_plan_fee + amount_usage + discounts.1 + discounts.2 + discounts.3 AS charges_now,
    carried,
    charges_now - charges - carried AS pending
FROM
(
    SELECT
        x_issued.month AS month,
        x_issued.account_id AS account_id,
        x_issued.number AS number,
        x_issued.tokens AS tokens,
        x_issued.list_cost AS list_cost,
        x_issued.charges AS charges,
        ifNull(x_usage.u_tokens, toUInt64(0)) AS tokens_now,
        ifNull(x_usage.u_cost, toDecimal128(0, 12)) AS list_cost_now,
        if(tokens_now > x_issued.quota, tokens_now - x_issued.quota, 0) AS billable_now,
        greatest(tokens_now, 1) AS denominator,
        toDecimal256(list_cost_now, 12)
            * usageflow_tier_weight_v1(billable_now, x_issued.tier_starts, x_issued.tier_ends,
                                       x_issued.tier_multipliers) AS usage_numerator,
        if(x_issued.is_payg = 1, toDecimal128(0, 2), CAST(round(x_issued.fee, 2) AS Decimal(38, 2)))
            AS amount_plan_fee,
        usageflow_fen_v1(usage_numerator, denominator) AS amount_usage,
        usageflow_discounts_v1(toDecimal256(x_issued.fee, 15) * denominator + usage_numerator, denominator,
                               x_issued.prepaid, x_issued.contract, x_issued.educational,
                               x_issued.prepaid_factor, x_issued.contract_factor,
                               x_issued.educational_factor) AS discounts,
        ifNull(x_carried.c_amount, toDecimal128(0, 2)) AS carried
    FROM invoices_issued AS x_issued
    LEFT JOIN
    (
        SELECT toString(account_id) AS account_id, toString(billing_month) AS month,
               tokens AS u_tokens, list_cost AS u_cost
        FROM monthly_usage
        WHERE billing_month IN (SELECT month FROM invoices_issued)
    ) AS x_usage ON x_usage.account_id = x_issued.account_id AND x_usage.month = x_issued.month
    LEFT JOIN
    (
        SELECT account_id, for_month AS month, CAST(sum(amount) AS Decimal(38, 2)) AS c_amount
        FROM issued_invoice_lines
        WHERE kind = 'adjustment'
        GROUP BY account_id, for_month
    ) AS x_carried ON x_carried.account_id = x_issued.account_id AND x_carried.month = x_issued.month
)
SETTINGS join_use_nulls = 1
