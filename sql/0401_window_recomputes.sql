-- Who re-aggregated windows from the stored events, and over what (usageflow.windows.recompute,
-- called after stored list costs changed, e.g. by `usageflow rerate`). A running worker reads the
-- new rows and reloads the windows it holds in memory for that account and range, so the next
-- revision it publishes starts from the re-priced events. Rows older than 30 days are dropped.
CREATE TABLE IF NOT EXISTS window_recomputes
(
    notice_id      String,
    account_id     LowCardinality(String),
    range_start    DateTime64(3, 'UTC'),
    range_end      DateTime64(3, 'UTC'),
    recomputed_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY recomputed_at
TTL toDateTime(recomputed_at) + INTERVAL 30 DAY
