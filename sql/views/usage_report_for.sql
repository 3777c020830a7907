-- usage_report_for: the usage report for the months {month_from}..{month_to}, one {account} or all
-- (''), as of the local date {as_of}:
-- SELECT * FROM usage_report_for(month_from='2026-11', month_to='2026-11', account='',
--                                as_of='2026-11-20').
--   days_elapsed      = days from the 1st through as_of (at least through the last day with
--                       usage; all days of a month that is over), between 1 and days_in_month
--   average_daily     = tokens / days_elapsed, rounded to 0.01
--   estimated_monthly = tokens × days_in_month / days_elapsed, rounded to a whole token
--   cost_estimate     = the invoice total (rounded lines, discounts included) that
--                       estimated_monthly tokens would give at the month's blended list price
--                       L / T: its usage line is L·W(billable(E)) / T, exact as in invoices
--                       (the same functions: usageflow_tier_weight_v1, _fen_v1, _discounts_v1).
-- Breakdowns by key, model, region, feature and day come from usage_breakdown.
CREATE OR REPLACE VIEW usage_report_for AS
SELECT
    account_id,
    month,
    currency,
    plan,
    as_of,
    days_in_month,
    days_elapsed,
    tokens AS total_tokens,
    list_cost,
    quota,
    total AS invoice_total_so_far,
    average_daily,
    estimated_monthly,
    usageflow_fen_v1(est_usage_numerator, denominator) AS est_usage,
    amount_plan_fee + est_usage + est_discounts.1 + est_discounts.2 + est_discounts.3
        AS cost_estimate
FROM
(
    SELECT
        x_base.*,
        {as_of:Date} AS as_of,
        toDate(concat(x_base.month, '-01')) AS month_start,
        toDayOfMonth(toLastDayOfMonth(month_start)) AS days_in_month,
        toUInt64(least(toInt64(days_in_month), greatest(toInt64(1),
            toInt64(dateDiff('day', month_start, as_of)) + 1,
            if(x_base.events > 0, toInt64(dateDiff('day', month_start, x_base.last_usage_date)) + 1,
               toInt64(0))))) AS days_elapsed,
        CAST(round(toDecimal256(x_base.tokens, 4) / days_elapsed, 2) AS Decimal(38, 2)) AS average_daily,
        toUInt64(intDiv(2 * x_base.tokens * days_in_month + days_elapsed, 2 * days_elapsed))
            AS estimated_monthly,
        toUInt64(if(x_base.is_payg = 1, estimated_monthly,
                    if(estimated_monthly > x_base.quota, estimated_monthly - x_base.quota, 0)))
            AS est_billable,
        usageflow_tier_weight_v1(est_billable, x_book.tier_starts, x_book.tier_ends, x_book.tier_multipliers)
            AS est_tier_weight,
        toDecimal256(x_base.list_cost, 12) * est_tier_weight AS est_usage_numerator,
        toDecimal256(x_base.fee, 15) * x_base.denominator + est_usage_numerator AS est_subtotal_numerator,
        usageflow_discounts_v1(est_subtotal_numerator, x_base.denominator, x_base.prepaid, x_base.contract,
                               x_base.educational, x_base.prepaid_factor, x_base.contract_factor,
                               x_base.educational_factor) AS est_discounts
    FROM invoice_base_for(month_from = {month_from:String}, month_to = {month_to:String},
                          account = {account:String}) AS x_base
    INNER JOIN price_book AS x_book ON x_book.version = x_base.version
)
