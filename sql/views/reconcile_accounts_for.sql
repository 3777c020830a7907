-- reconcile_accounts_for: provider cost against billed cost (docs/pricing.md §14), one row per
-- account and model with usage in the billing month {month} ('YYYY-MM', the account's time
-- zone, as on invoices), for one {account} or all (''):
-- SELECT * FROM reconcile_accounts_for(month = '2026-11', account = '').
--
-- billed: the account's usage line of the month (invoice_base_for's amount_usage, rounded to
-- the fen as on the invoice) apportioned over its models in proportion to their list cost, in
-- whole fen by the largest remainder: a model gets floor(U × L_model / L_account) fen, and the
-- fen left over go one each to the models with the largest remainders (equal remainders: model
-- names in ascending order). The shares add up to the usage line exactly. Plan fees and
-- discounts are not apportioned.
-- billed_with_provider_cost: the part of the model's share that falls on its events carrying a
-- provider cost, in proportion to their list cost: share × L_with / L_model rounded to the fen,
-- halves up (the largest remainder between the two parts, a tie going to the part with a
-- provider cost). The rest of the share falls on events without one.
-- margin = billed_with_provider_cost − amount_provider_cost (the provider cost summed exactly
-- and rounded once, half away from zero): both sides cover the same events.
--
-- Exactness: integers only. List costs are counted in units of 1e-12 (Int256) and the usage
-- line in fen, so U × L_model stays below 1e54, far inside Int256; each division is an intDiv
-- whose remainder is kept and compared exactly.
CREATE OR REPLACE VIEW reconcile_accounts_for AS
SELECT
    account_id,
    month,
    model,
    events,
    tokens,
    input_tokens,
    output_tokens,
    cached_input_tokens,
    cache_write_tokens,
    reasoning_tokens,
    list_cost,
    events_with_provider_cost,
    events - events_with_provider_cost AS events_without_provider_cost,
    list_cost_with_provider_cost,
    provider_cost,
    usage_line,
    CAST(toDecimal256(share_fen, 2) / 100 AS Decimal(38, 2)) AS billed,
    CAST(toDecimal256(with_fen, 2) / 100 AS Decimal(38, 2)) AS billed_with_provider_cost,
    CAST(round(list_cost, 2) AS Decimal(38, 2)) AS amount_list_cost,
    CAST(round(provider_cost, 2) AS Decimal(38, 2)) AS amount_provider_cost,
    billed_with_provider_cost - amount_provider_cost AS margin
FROM
(
    SELECT
        *,
        floor_fen + if(fen_rank <= leftover_fen, 1, 0) AS share_fen,
        if(cost_units = 0, toInt256(0),
           intDiv(2 * share_fen * with_units + cost_units, 2 * cost_units)) AS with_fen
    FROM
    (
        SELECT
            *,
            usage_fen - sum(floor_fen) OVER (PARTITION BY account_id) AS leftover_fen,
            row_number() OVER (PARTITION BY account_id ORDER BY remainder DESC, model ASC) AS fen_rank
        FROM
        (
            SELECT
                *,
                if(account_units = 0, toInt256(0), intDiv(usage_fen * cost_units, account_units)) AS floor_fen,
                usage_fen * cost_units - floor_fen * account_units AS remainder
            FROM
            (
                SELECT
                    x_usage.*,
                    x_invoice.usage_line AS usage_line,
                    toInt256(toDecimal256(x_invoice.usage_line, 2) * 100) AS usage_fen,
                    toInt256(toDecimal256(x_usage.list_cost, 12) * 1000000000000) AS cost_units,
                    toInt256(toDecimal256(x_usage.list_cost_with_provider_cost, 12) * 1000000000000) AS with_units,
                    sum(cost_units) OVER (PARTITION BY x_usage.account_id) AS account_units
                FROM
                (
                    SELECT
                        account_id,
                        month,
                        model,
                        count() AS events,
                        sum(r_input + r_output) AS tokens,
                        sum(r_input) AS input_tokens,
                        sum(r_output) AS output_tokens,
                        sum(r_cached) AS cached_input_tokens,
                        sum(r_written) AS cache_write_tokens,
                        sum(r_reasoning) AS reasoning_tokens,
                        sum(r_cost) AS list_cost,
                        countIf(r_priced) AS events_with_provider_cost,
                        sumIf(r_cost, r_priced) AS list_cost_with_provider_cost,
                        sum(r_provider_cost) AS provider_cost
                    FROM
                    (
                        SELECT
                            toString(account_id) AS account_id,
                            toString(billing_month) AS month,
                            toString(model) AS model,
                            toUInt64(input_tokens) AS r_input,
                            toUInt64(output_tokens) AS r_output,
                            toUInt64(cached_input_tokens) AS r_cached,
                            toUInt64(cache_write_tokens) AS r_written,
                            toUInt64(reasoning_tokens) AS r_reasoning,
                            list_cost AS r_cost,
                            provider_cost IS NOT NULL AS r_priced,
                            ifNull(provider_cost, toDecimal128(0, 12)) AS r_provider_cost
                        FROM rated_events FINAL
                        WHERE billing_month = {month:String}
                          AND ({account:String} = '' OR account_id = {account:String})
                    )
                    GROUP BY account_id, month, model
                ) AS x_usage
                INNER JOIN
                (
                    SELECT account_id, amount_usage AS usage_line
                    FROM invoice_base_for(month_from = {month:String}, month_to = {month:String},
                                          account = {account:String})
                ) AS x_invoice ON x_invoice.account_id = x_usage.account_id
            )
        )
    )
)
