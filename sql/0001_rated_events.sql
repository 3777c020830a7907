-- One row per rated event, exactly as the stream rated it (docs/pricing.md §2; nothing rounded).
-- ReplacingMergeTree on (account_id, event_id): a duplicate that slipped past the stream's
-- dedupe collapses at merge time, and billing views read this table with FINAL, so an event id
-- is billed once however often it arrives.
-- PARTITION BY the UTC month of event time: a producer retry carries the same ts, so duplicates
-- land in the same partition (FINAL only collapses within a partition), and old months can be
-- dropped or rebuilt from Kafka one at a time.
-- ORDER BY (account_id, event_id): every billing query filters by account and month; the sink's
-- "already stored?" check looks up (account_id, event_id) pairs through the primary index.
CREATE TABLE IF NOT EXISTS rated_events
(
    event_id              String,
    account_id            LowCardinality(String),
    api_key_id            LowCardinality(String),
    model                 LowCardinality(String),
    region                LowCardinality(String),
    feature               LowCardinality(String),
    user_id               String,
    input_tokens          UInt32,
    output_tokens         UInt32,
    ts                    DateTime64(3, 'UTC'),
    latency_ms            UInt32,
    input_per_1k          Decimal(38, 12),
    output_per_1k         Decimal(38, 12),
    region_multiplier     Decimal(38, 12),
    off_peak_multiplier   Decimal(38, 12),
    list_cost             Decimal(38, 12),
    billing_tz            LowCardinality(String),
    billing_month         LowCardinality(String),
    billing_date          Date,
    extra                 String,
    ingested_at           DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (account_id, event_id)
