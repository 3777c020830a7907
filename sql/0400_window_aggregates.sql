-- The stream's windows (docs/events.md §4): per (account_id, api_key_id, model), 1m and 1h (UTC)
-- and 1d (the account's local day: window_date in billing_tz) windows with their totals.
-- Rows with revision >= 1 are the WindowAggregate v1 records published on the windows topic
-- (each revision carries the full totals); a window whose end has not passed in event time yet
-- has rows with revision 0 ("open"): the first at once, then rewritten at most every
-- USAGEFLOW_STREAM_WINDOW_OPEN_ROW_INTERVAL_S (5 s) while it changes, and when its worker stops.
-- ReplacingMergeTree(revision): read with FINAL, each window is its highest revision (its newest
-- open row while it has none). Invariant, kept through crashes and redelivery: the highest
-- revision of every window equals the aggregate of its stored events (rated_events FINAL).
-- source_partition: the events-topic partition the window's events came from (a restarted
-- worker closes a restored open window when that partition's event time passes its end).
-- ORDER BY: one row per window (a day window's start is a local day in a zone, hence
-- billing_tz); account and granularity first, as every reader filters by them.
-- PARTITION BY the UTC month of window_start: every revision of a window lands in one partition.
CREATE TABLE IF NOT EXISTS window_aggregates
(
    window_id            String,
    granularity          LowCardinality(String),
    account_id           LowCardinality(String),
    api_key_id           LowCardinality(String),
    model                LowCardinality(String),
    window_start         DateTime64(3, 'UTC'),
    window_end           DateTime64(3, 'UTC'),
    billing_tz           LowCardinality(String),
    window_date          Date,
    requests             UInt64,
    input_tokens         UInt64,
    output_tokens        UInt64,
    total_tokens         UInt64,
    cached_input_tokens  UInt64,
    cache_write_tokens   UInt64,
    reasoning_tokens     UInt64,
    list_cost            Decimal(38, 12),
    revision             UInt32,
    emitted_at           DateTime64(3, 'UTC'),
    source_partition     Int32
)
ENGINE = ReplacingMergeTree(revision)
PARTITION BY toYYYYMM(window_start)
ORDER BY (account_id, granularity, window_start, billing_tz, api_key_id, model)
