-- Usage report of docs/pricing.md §7 for the months {month_from}..{month_to}, one {account} or all
-- (''), as of the local date {as_of}:
-- SELECT * FROM usage_report_for(month_from='2026-11', month_to='2026-11', account='',
--                                as_of='2026-11-20').
--   days_elapsed      = days from the 1st through as_of (at least through the last day with
--                       usage; all days of a month that is over), between 1 and days_in_month
--   average_daily     = tokens / days_elapsed, rounded to 0.01
--   estimated_monthly = tokens × days_in_month / days_elapsed, rounded to a whole token
--   cost_estimate     = the invoice total (rounded lines, discounts included) that
--                       estimated_monthly tokens would give at the month's blended list price
--                       L / T: its usage line is L·W(billable(E)) / T, exact as in invoices.
-- Breakdowns by key, model, region, feature and day come from usage_breakdown.
CREATE VIEW IF NOT EXISTS usage_report_for AS
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
    CAST(round(est_usage_numerator / denominator, 2) AS Decimal(38, 2)) AS est_usage,
    amount_plan_fee + est_usage
        + if(prepaid = 1,
             CAST(round(est_subtotal_numerator * (toDecimal256(prepaid_factor, 6) - 1)
                        / denominator, 2) AS Decimal(38, 2)),
             toDecimal128(0, 2))
        + if(contract = 1,
             CAST(round(est_subtotal_numerator * toDecimal256(prepaid_factor, 6)
                        * (toDecimal256(contract_factor, 6) - 1) / denominator, 2)
                 AS Decimal(38, 2)),
             toDecimal128(0, 2))
        + if(educational = 1,
             CAST(round(est_subtotal_numerator * toDecimal256(prepaid_factor, 6)
                        * toDecimal256(contract_factor, 6)
                        * (toDecimal256(educational_factor, 6) - 1) / denominator, 2)
                 AS Decimal(38, 2)),
             toDecimal128(0, 2))
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
        arraySum(arrayMap(
            (s, e, mult) -> toDecimal256(if(est_billable > s, least(est_billable, e) - s, 0), 0)
                * toDecimal256(mult, 6),
            x_book.tier_starts, x_book.tier_ends, x_book.tier_multipliers
        )) AS est_tier_weight,
        toDecimal256(x_base.list_cost, 12) * est_tier_weight AS est_usage_numerator,
        toDecimal256(x_base.fee, 15) * x_base.denominator + est_usage_numerator AS est_subtotal_numerator
    FROM invoice_base_for(month_from = {month_from:String}, month_to = {month_to:String},
                          account = {account:String}) AS x_base
    CROSS JOIN price_book AS x_book
)
