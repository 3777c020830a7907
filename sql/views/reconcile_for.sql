-- reconcile_for: provider cost against billed cost per model (docs/pricing.md §14) for the
-- billing month {month} and one {account} or all (''): the rows of reconcile_accounts_for
-- added up per model. `billed` and `billed_with_provider_cost` are sums of whole-fen shares;
-- the list cost and the provider cost are summed exactly and rounded once here
-- (amount_list_cost, amount_provider_cost), so margin = billed_with_provider_cost −
-- amount_provider_cost.
-- SELECT * FROM reconcile_for(month = '2026-11', account = '').
CREATE OR REPLACE VIEW reconcile_for AS
SELECT
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
    events_without_provider_cost,
    list_cost_with_provider_cost,
    provider_cost,
    billed,
    billed_with_provider_cost,
    CAST(round(list_cost, 2) AS Decimal(38, 2)) AS amount_list_cost,
    CAST(round(provider_cost, 2) AS Decimal(38, 2)) AS amount_provider_cost,
    billed_with_provider_cost - amount_provider_cost AS margin
FROM
(
    SELECT
        month,
        model,
        sum(x.events) AS events,
        sum(x.tokens) AS tokens,
        sum(x.input_tokens) AS input_tokens,
        sum(x.output_tokens) AS output_tokens,
        sum(x.cached_input_tokens) AS cached_input_tokens,
        sum(x.cache_write_tokens) AS cache_write_tokens,
        sum(x.reasoning_tokens) AS reasoning_tokens,
        sum(x.list_cost) AS list_cost,
        sum(x.events_with_provider_cost) AS events_with_provider_cost,
        sum(x.events_without_provider_cost) AS events_without_provider_cost,
        sum(x.list_cost_with_provider_cost) AS list_cost_with_provider_cost,
        sum(x.provider_cost) AS provider_cost,
        sum(x.billed) AS billed,
        sum(x.billed_with_provider_cost) AS billed_with_provider_cost
    FROM reconcile_accounts_for(month = {month:String}, account = {account:String}) AS x
    GROUP BY x.month AS month, x.model AS model
)
