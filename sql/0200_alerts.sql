-- Every alert the stream published (docs/events.md Alert v1), one row per alert_id.
-- The stream reads it back when it meets an account (after a restart or a rebalance), so an
-- alert fired by any worker is never fired again.
-- ReplacingMergeTree on alert_id: a re-sent alert (same deterministic id) collapses.
-- ORDER BY (account_id, alert_id): the restore query and analysts filter by account first.
-- PARTITION BY month of the event that crossed: alert history is dropped a month at a time.
CREATE TABLE IF NOT EXISTS alerts
(
    alert_id      String,
    type          LowCardinality(String),
    account_id    LowCardinality(String),
    period        String,
    level         Decimal(38, 12),
    value         Decimal(38, 12),
    limit         Decimal(38, 12),
    percentage    Decimal(38, 12),
    plan          LowCardinality(String),
    triggered_at  DateTime64(3, 'UTC'),
    emitted_at    DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(triggered_at)
ORDER BY (account_id, alert_id)
