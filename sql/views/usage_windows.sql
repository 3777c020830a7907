-- Tumbling windows per (account_id, api_key_id, model): 1m and 1h (UTC, epoch-aligned) and
-- 1d (the account's local calendar day from billing_date; its window_start is that date at
-- 00:00, a label rather than an instant, since local days start at different instants).
-- A view over rated_events FINAL, not a materialized rollup: an insert-time rollup can miss
-- events whose insert was cut between the table and the view (a crash, a failed view write),
-- and the sink never re-inserts events the table already holds. Computed at query time, every
-- stored event is counted exactly once. Filter by granularity and account_id: the account
-- filter uses rated_events' primary key.
CREATE OR REPLACE VIEW usage_windows AS
SELECT granularity, window_start, account_id, api_key_id, model,
       count() AS requests,
       sum(e.in_tokens) AS input_tokens,
       sum(e.out_tokens) AS output_tokens,
       sum(e.in_tokens + e.out_tokens) AS total_tokens,
       sum(e.cost) AS list_cost
FROM
(
    SELECT arrayJoin([
               ('1m', toStartOfMinute(ts)),
               ('1h', toStartOfHour(ts)),
               ('1d', toDateTime64(billing_date, 3, 'UTC'))
           ]) AS window,
           window.1 AS granularity,
           toDateTime64(window.2, 3, 'UTC') AS window_start,
           account_id, api_key_id, model,
           toUInt64(input_tokens) AS in_tokens, toUInt64(output_tokens) AS out_tokens, list_cost AS cost
    FROM rated_events FINAL
) AS e
GROUP BY granularity, window_start, account_id, api_key_id, model
