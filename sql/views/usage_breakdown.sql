-- Usage per account, billing month, local day, api key, model, region, feature and peak /
-- off-peak: the grain of the report breakdowns and the cost hints, with the token-type parts
-- (cached input, cache writes, reasoning: parts of input / output tokens, docs/events.md). Reads
-- rated_events FINAL so an event id that arrived twice counts once. `region` is '' for events
-- sent without one (priced at the default region multiplier).
CREATE OR REPLACE VIEW usage_breakdown AS
SELECT
    account_id,
    billing_month,
    billing_date,
    api_key_id,
    model,
    region,
    feature,
    off_peak,
    region_multiplier,
    count() AS events,
    sum(in_tokens) AS input_tokens,
    sum(out_tokens) AS output_tokens,
    sum(all_tokens) AS tokens,
    sum(cost) AS list_cost,
    sum(cached) AS cached_input_tokens,
    sum(written) AS cache_write_tokens,
    sum(reasoning) AS reasoning_tokens
FROM
(
    SELECT
        account_id,
        billing_month,
        billing_date,
        api_key_id,
        model,
        region,
        feature,
        toUInt8(off_peak_multiplier != 1) AS off_peak,
        region_multiplier,
        toUInt64(input_tokens) AS in_tokens,
        toUInt64(output_tokens) AS out_tokens,
        toUInt64(input_tokens) + output_tokens AS all_tokens,
        list_cost AS cost,
        toUInt64(cached_input_tokens) AS cached,
        toUInt64(cache_write_tokens) AS written,
        toUInt64(reasoning_tokens) AS reasoning
    FROM rated_events FINAL
)
GROUP BY
    account_id, billing_month, billing_date, api_key_id, model, region, feature, off_peak,
    region_multiplier
