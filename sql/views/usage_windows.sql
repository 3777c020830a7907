-- Tumbling windows per (account_id, api_key_id, model) as the stream keeps them (the table
-- window_aggregates): 1m and 1h (UTC, epoch-aligned) and 1d (the account's local day: window_date
-- in billing_tz; window_start / window_end are the instants that day begins and ends, 23 or 25 h
-- apart on a DST change). One row per window:
--   state = 'closed': its end has passed in event time on its partition; the row is its highest
--           revision, the WindowAggregate v1 record last published on the windows topic;
--   state = 'open':   not yet published (revision 0); while its worker runs, its totals are at
--                     most about USAGEFLOW_STREAM_WINDOW_OPEN_ROW_INTERVAL_S (5 s) behind the
--                     stored events (after a crash, until the next worker's first batch).
-- Totals are those of the stored events (each event id counted once). Filter by granularity and
-- account_id: they lead the table's primary key.
CREATE OR REPLACE VIEW usage_windows AS
SELECT granularity, window_start, account_id, api_key_id, model,
       requests, input_tokens, output_tokens, total_tokens, list_cost,
       window_end, window_date, billing_tz,
       cached_input_tokens, cache_write_tokens, reasoning_tokens,
       window_id, revision, if(revision = 0, 'open', 'closed') AS state, emitted_at
FROM window_aggregates FINAL
