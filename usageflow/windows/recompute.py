"""Windows recomputed from the stored events, for whoever changes stored events behind the
stream's back (`usageflow rerate` re-prices them): every recorded window of an account and time
range is re-aggregated from `rated_events FINAL`, and each whose highest revision no longer
matches gets a new revision with the full totals, published on the windows topic and stored.

Open windows (not yet published) are left to the worker that holds them: the notice recorded in
`window_recomputes` makes a running worker reload the windows it holds in memory for that
account and range, so it never publishes a revision built on the old prices. Windows never
recorded at all are the worker's too (they are open, or in a batch it will read again).

Safe to run again: a second run over the same range finds nothing to change.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from usageflow.config import KafkaSettings, TopicSettings
from usageflow.warehouse import Warehouse
from usageflow.windows import store
from usageflow.windows.records import WindowRow, rows_table, table_records
from usageflow.windows.slots import to_ms, window_end_ms

Publish = Callable[[Sequence[tuple[bytes, bytes]]], None]
"""Sends (key, value) records to the windows topic and returns once the broker acknowledged them."""


@dataclass(frozen=True)
class Recomputed:
    windows_checked: int
    revisions: list[WindowRow]  # published and stored
    open_rows: int  # open windows whose row was rewritten (not published)


def recompute_windows(
    warehouse: Warehouse,
    publish: Publish,
    account_id: str | None,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
) -> Recomputed:
    """Re-aggregate every recorded window of `account_id` (None: every account) overlapping
    [start, end) and publish a new revision of each one that differs from its highest stored
    revision. Call it after changing stored events of that range."""
    lo, hi = to_ms(start), to_ms(end)
    if hi <= lo:
        return Recomputed(0, [], 0)
    # Day windows reach up to 25 h beyond the range: count their events in full.
    sums = store.range_aggregates(warehouse, account_id, lo - store.DAY_SPAN_MS, hi + store.DAY_SPAN_MS)
    rows = store.rows_in_range(warehouse, account_id, lo, hi)
    stamp = to_ms(now or datetime.now(UTC))
    revisions: list[WindowRow] = []
    open_rows: list[WindowRow] = []
    for key, row in rows.items():
        held = store.held_of(sums.get(key), row)
        totals = held.totals
        partition = held.partition if held.partition is not None else -1
        if held.revision > 0 and totals != held.revised:
            revisions.append(WindowRow(key, window_end_ms(key), totals, held.revision + 1, stamp, partition))
        elif held.revision == 0 and totals != held.row:
            open_rows.append(WindowRow(key, window_end_ms(key), totals, 0, stamp, partition))
    if revisions:
        publish(table_records(rows_table(revisions)))
    store.insert(warehouse, revisions + open_rows)
    store.record_notice(warehouse, uuid.uuid4().hex, account_id or "", lo, hi)  # "": every account
    return Recomputed(len(rows), revisions, len(open_rows))


def month_range(month: str) -> tuple[datetime, datetime]:
    """The instants that cover the billing month `month` ('YYYY-MM') in every time zone: its UTC
    month, a day wider on both sides (what a re-pricing of that month can change)."""
    year, mon = int(month[:4]), int(month[5:7])
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=UTC)
    return start - timedelta(days=1), end + timedelta(days=1)


def kafka_publisher(kafka: KafkaSettings, topics: TopicSettings) -> Publish:
    """A `Publish` on the configured windows topic (the idempotent publisher, acks=all)."""
    from usageflow.bus.producer import Publisher

    def publish(records: Sequence[tuple[bytes, bytes]]) -> None:
        publisher = Publisher(kafka, topics)
        for key, value in records:
            publisher.send(topics.windows, key, value)
        publisher.flush()

    return publish


def recompute_and_publish(
    warehouse: Warehouse,
    kafka: KafkaSettings,
    topics: TopicSettings,
    account_id: str | None,
    start: datetime,
    end: datetime,
) -> Recomputed:
    """`recompute_windows` publishing on the configured Kafka (what `usageflow rerate` calls)."""
    return recompute_windows(warehouse, kafka_publisher(kafka, topics), account_id, start, end)
