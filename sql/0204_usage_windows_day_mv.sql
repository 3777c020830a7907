-- Feeds usage_windows with 1d windows from each insert into rated_events.
CREATE MATERIALIZED VIEW IF NOT EXISTS usage_windows_day_mv TO usage_windows AS
SELECT
    '1d' AS granularity,
    toDateTime64(r.billing_date, 3, 'UTC') AS window_start,  -- the local calendar day, labelled at 00:00
    r.account_id AS account_id,
    r.api_key_id AS api_key_id,
    r.model AS model,
    count() AS requests,
    sum(toUInt64(r.input_tokens)) AS input_tokens,
    sum(toUInt64(r.output_tokens)) AS output_tokens,
    sum(toUInt64(r.input_tokens) + r.output_tokens) AS total_tokens,
    sum(r.list_cost) AS list_cost
FROM rated_events AS r
GROUP BY granularity, window_start, account_id, api_key_id, model
