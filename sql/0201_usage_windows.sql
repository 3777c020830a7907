-- Tumbling windows per (account_id, api_key_id, model): 1m and 1h (UTC, epoch-aligned) and
-- 1d (the account's local calendar day from billing_date; its window_start is that date at
-- 00:00, a label rather than an instant, since local days start at different instants).
-- Filled by the materialized views 0202-0204 from every insert into rated_events. The sink inserts only events the warehouse does not
-- hold yet, so these sums count each event once; read them with sum() ... GROUP BY (rows of
-- one window are summed at merge time).
-- SummingMergeTree: a window's counters are the sum of its rows; merges collapse them.
-- ORDER BY (granularity, account_id, window_start, api_key_id, model): dashboards ask for one
-- granularity of one account over a time range.
-- PARTITION BY (granularity, month): 1-minute windows can be dropped without touching days.
CREATE TABLE IF NOT EXISTS usage_windows
(
    granularity    LowCardinality(String),
    window_start   DateTime64(3, 'UTC'),
    account_id     LowCardinality(String),
    api_key_id     LowCardinality(String),
    model          LowCardinality(String),
    requests       UInt64,
    input_tokens   UInt64,
    output_tokens  UInt64,
    total_tokens   UInt64,
    list_cost      Decimal(38, 12)
)
ENGINE = SummingMergeTree((requests, input_tokens, output_tokens, total_tokens, list_cost))
PARTITION BY (granularity, toYYYYMM(window_start))
ORDER BY (granularity, account_id, window_start, api_key_id, model)
