-- Token types, provider cost and price versions (docs/events.md, docs/pricing.md §10, §11).
-- The token-type counts are parts of input_tokens / output_tokens (never extra tokens), 0 when
-- an event does not carry them; provider_cost is NULL when unknown. The token-type prices
-- default, for rows stored before these columns existed, to the prices those rows were rated
-- with (cached input and cache writes at the input price, reasoning at the output price).
-- price_version: the `effective_from` of the price version that rated the row (UTC,
-- ISO 8601), '' for rows rated before price versions existed. rated_at: when the row's price
-- was computed (the stream's insert, or the `usageflow rerate` that re-priced it).
ALTER TABLE rated_events ADD COLUMN IF NOT EXISTS cached_input_tokens UInt32 DEFAULT 0;
ALTER TABLE rated_events ADD COLUMN IF NOT EXISTS cache_write_tokens UInt32 DEFAULT 0;
ALTER TABLE rated_events ADD COLUMN IF NOT EXISTS reasoning_tokens UInt32 DEFAULT 0;
ALTER TABLE rated_events ADD COLUMN IF NOT EXISTS provider_cost Nullable(Decimal(38, 12));
ALTER TABLE rated_events ADD COLUMN IF NOT EXISTS cached_input_per_1k Decimal(38, 12) DEFAULT input_per_1k;
ALTER TABLE rated_events ADD COLUMN IF NOT EXISTS cache_write_per_1k Decimal(38, 12) DEFAULT input_per_1k;
ALTER TABLE rated_events ADD COLUMN IF NOT EXISTS reasoning_per_1k Decimal(38, 12) DEFAULT output_per_1k;
ALTER TABLE rated_events ADD COLUMN IF NOT EXISTS price_version LowCardinality(String) DEFAULT '';
ALTER TABLE rated_events ADD COLUMN IF NOT EXISTS rated_at DateTime64(3, 'UTC') DEFAULT ingested_at
