"""The stream's tumbling windows (docs/events.md §4): 1m and 1h (UTC) and 1d (the account's local
day) per (account_id, api_key_id, model).

* `slots`: which windows an event falls in, their bounds and `window_id` (pure);
* `totals`, `tracker`: what a worker keeps in memory and when a window is published (pure);
* `records`: the WindowAggregate v1 record and the `window_aggregates` row;
* `store`: what the warehouse holds (aggregates of the stored events, window rows);
* `recompute`: re-aggregating recorded windows after stored events changed (`usageflow rerate`).

The pipeline's step that drives them is usageflow.streams.window_step.
"""
