"""A batch's stored events as window totals, aggregated over columns (Arrow's hash group-by).

Every event falls in one minute, one hour and one day window (usageflow.windows.slots); a batch
of a catching-up worker has ~2.4 distinct windows per event. Adding each event to a Python
object per window cost ~20 µs an event; here the three group-bys run in C, and what stays per
window in Python is the tracker's lookup of what it holds (`WindowTracker.apply`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from operator import itemgetter

import pyarrow as pa
import pyarrow.compute as pc

from usageflow.pricing.rating import RatedEvent
from usageflow.schemas.columnar import EventRecord
from usageflow.windows.slots import HOUR_MS, MINUTE_MS, UTC_ZONE, day_bounds_ms
from usageflow.windows.totals import Frozen

MONEY = pa.decimal128(38, 12)
COUNTS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens", "reasoning_tokens")
_EVENT_FIELDS = itemgetter(2, 3, 4, 8, 6, 7, 12, 13, 14)  # EventRecord: account .. reasoning_tokens
_AGGREGATES = [
    ("requests", "count"),
    *((name, "sum") for name in COUNTS),
    ("list_cost", "sum"),
    ("partition", "first"),
    ("partition", "last"),
]


def _fields(event: object) -> tuple[object, ...]:
    return tuple(
        getattr(event, name)
        for name in ("account_id", "api_key_id", "model", "ts", "input_tokens", "output_tokens",
                     "cached_input_tokens", "cache_write_tokens", "reasoning_tokens")
    )  # fmt: skip


def event_table(stored: Sequence[tuple[int, RatedEvent]]) -> pa.Table:
    """(partition, rated event) pairs as the columns the aggregation reads."""
    partitions, rated = zip(*stored, strict=True)
    events = [r[0] for r in rated]
    pick = _EVENT_FIELDS if all(type(e) is EventRecord for e in events) else _fields
    account, api_key, model, ts, *counts = zip(*map(pick, events), strict=True)
    tzs = [r[6] for r in rated]
    days = [r[8] for r in rated]
    instants = pa.array(ts, pa.timestamp("us", tz="UTC")).cast(pa.int64())
    columns = {
        "partition": pa.array(partitions, pa.int32()),
        "account_id": pa.array(account, pa.string()),
        "api_key_id": pa.array(api_key, pa.string()),
        "model": pa.array(model, pa.string()),
        "ts_ms": pc.divide(instants, 1000),  # event times are after 1970: truncation is the floor
        "billing_tz": pa.array(tzs, pa.string()),
        "billing_date": pa.array(days, pa.date32()),
        "requests": pa.repeat(pa.scalar(1, pa.int64()), len(rated)),
        **{name: pa.array(values, pa.int64()) for name, values in zip(COUNTS, counts, strict=True)},
        "list_cost": pa.array([r[5] for r in rated], MONEY),
    }
    return pa.table(columns)


def events_of_rated(rated: pa.Table, partitions: Sequence[int], stored: Sequence[bool]) -> pa.Table:
    """`event_table` from the insert's `rated_events` table (usageflow.streams.rated_rows) of the
    same events, taking only the rows where `stored` is true: the columns are already there."""
    columns = {
        "partition": pa.array(partitions, pa.int32()),
        "account_id": rated.column("account_id"),
        "api_key_id": rated.column("api_key_id"),
        "model": rated.column("model"),
        "ts_ms": rated.column("ts").cast(pa.int64()),
        "billing_tz": rated.column("billing_tz"),
        "billing_date": rated.column("billing_date"),
        "requests": pa.repeat(pa.scalar(1, pa.int64()), rated.num_rows),
        **{name: rated.column(name).cast(pa.int64()) for name in COUNTS},
        "list_cost": rated.column("list_cost").cast(MONEY),
    }
    table = pa.table(columns)
    return table if all(stored) else table.filter(pa.array(stored, pa.bool_()))


@dataclass(frozen=True)
class BatchWindows:
    """The distinct windows of a batch's stored events (minute, hour, then day windows): `table`
    holds, row by row, the key (`granularity`, `account_id`, `api_key_id`, `model`, `start_ms`,
    `zone`), `end_ms`, `window_date`, the partition of the first and of the last event, and the
    totals of the batch's events in the window (`requests`, the five counts, `list_cost`); the
    lists are the columns the tracker reads per window."""

    table: pa.Table
    granularity: list[str]
    start_ms: list[int]
    end_ms: list[int]
    zone: list[str]
    first_partition: list[int]
    last_partition: list[int]
    watermarks: dict[int, int]  # partition -> newest event time of the batch there
    newest: dict[str, int]  # account -> newest event time of the batch

    def __len__(self) -> int:
        return len(self.granularity)

    @cached_property
    def keys(self) -> list[tuple[str, str, str, str, int, str]]:
        """Each window's WindowKey fields, as plain tuples (equal to and hashed as WindowKeys);
        built once per batch."""
        t = self.table
        return list(
            zip(
                t.column("account_id").to_pylist(),
                t.column("api_key_id").to_pylist(),
                t.column("model").to_pylist(),
                self.granularity,
                self.start_ms,
                self.zone,
                strict=True,
            )
        )

    def totals(self, rows: Sequence[int]) -> list[Frozen]:
        """The batch's totals of the windows at `rows`, as Python values."""
        picked = self.table.take(pa.array(rows, pa.int64()))
        columns = [picked.column(name).to_pylist() for name in ("requests", *COUNTS)]
        costs: list[Decimal] = picked.column("list_cost").to_pylist()
        return [Frozen(*row) for row in zip(*columns, costs, strict=True)]


def aggregate(events: pa.Table) -> BatchWindows:
    """The windows of `events` (an `event_table`) with the totals of their events."""
    ts = events.column("ts_ms")
    parts = []
    for granularity, step in (("1m", MINUTE_MS), ("1h", HOUR_MS)):
        table = events.append_column("start_ms", pc.multiply(pc.divide(ts, step), step))
        by_slot = table.group_by(["account_id", "api_key_id", "model", "start_ms"], use_threads=False)
        found = by_slot.aggregate(_AGGREGATES)
        start = found.column("start_ms")
        parts.append(_window_columns(found, granularity, start, pc.add(start, step), UTC_ZONE, _utc_dates(start)))
    day = ["account_id", "api_key_id", "model", "billing_tz", "billing_date"]
    found = events.group_by(day, use_threads=False).aggregate(_AGGREGATES)
    zones = found.column("billing_tz")
    bounds = list(map(day_bounds_ms, zones.to_pylist(), found.column("billing_date").to_pylist()))
    starts = pa.array([b[0] for b in bounds], pa.int64())
    ends = pa.array([b[1] for b in bounds], pa.int64())
    parts.append(_window_columns(found, "1d", starts, ends, zones, found.column("billing_date")))
    table = pa.concat_tables(parts)
    by_partition = events.group_by("partition").aggregate([("ts_ms", "max")])
    by_account = events.group_by("account_id").aggregate([("ts_ms", "max")])
    return BatchWindows(
        table=table,
        granularity=table.column("granularity").to_pylist(),
        start_ms=table.column("start_ms").to_pylist(),
        end_ms=table.column("end_ms").to_pylist(),
        zone=table.column("zone").to_pylist(),
        first_partition=table.column("first_partition").to_pylist(),
        last_partition=table.column("last_partition").to_pylist(),
        watermarks=dict(zip(*(by_partition.column(c).to_pylist() for c in ("partition", "ts_ms_max")), strict=True)),
        newest=dict(zip(*(by_account.column(c).to_pylist() for c in ("account_id", "ts_ms_max")), strict=True)),
    )


def _utc_dates(start_ms: pa.ChunkedArray) -> pa.ChunkedArray:
    return start_ms.cast(pa.timestamp("ms", tz="UTC")).cast(pa.date32())


def _window_columns(
    found: pa.Table,
    granularity: str,
    start_ms: pa.Array | pa.ChunkedArray,
    end_ms: pa.Array | pa.ChunkedArray,
    zone: str | pa.ChunkedArray,
    window_date: pa.Array | pa.ChunkedArray,
) -> pa.Table:
    n = found.num_rows
    zones = pa.repeat(pa.scalar(zone, pa.string()), n) if isinstance(zone, str) else zone
    columns = {
        "granularity": pa.repeat(pa.scalar(granularity, pa.string()), n),
        "account_id": found.column("account_id"),
        "api_key_id": found.column("api_key_id"),
        "model": found.column("model"),
        "start_ms": start_ms,
        "end_ms": end_ms,
        "zone": zones,
        "window_date": window_date,
        "first_partition": found.column("partition_first"),
        "last_partition": found.column("partition_last"),
        "requests": found.column("requests_count"),
        **{name: found.column(f"{name}_sum") for name in COUNTS},
        "list_cost": found.column("list_cost_sum").cast(MONEY),
    }
    return pa.table({name: _chunked(values) for name, values in columns.items()})


def _chunked(values: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    return values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])
