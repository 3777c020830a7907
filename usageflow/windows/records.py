"""A window revision as the windows topic carries it (WindowAggregate v1 JSON) and as the
`window_aggregates` table stores it (one Arrow table per batch). `record` is the reference for
one row; the records a batch publishes are written from its table (`table_records`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from usageflow.schemas import WindowAggregate
from usageflow.schemas.window_aggregate import decimal_text
from usageflow.windows.batch import BatchWindows
from usageflow.windows.columns import Column, record_values, window_ids
from usageflow.windows.slots import WindowKey, bounds_text, day_of, iso_utc, to_ms, window_id
from usageflow.windows.totals import Frozen

_MONEY_SCALE = 12
_MONEY = pa.decimal128(38, _MONEY_SCALE)
_STAMP = pa.timestamp("ms", tz="UTC")
TABLE_SCHEMA = pa.schema(
    [
        ("window_id", pa.string()),
        ("granularity", pa.string()),
        ("account_id", pa.string()),
        ("api_key_id", pa.string()),
        ("model", pa.string()),
        ("window_start", _STAMP),
        ("window_end", _STAMP),
        ("billing_tz", pa.string()),
        ("window_date", pa.date32()),
        ("requests", pa.uint64()),
        ("input_tokens", pa.uint64()),
        ("output_tokens", pa.uint64()),
        ("total_tokens", pa.uint64()),
        ("cached_input_tokens", pa.uint64()),
        ("cache_write_tokens", pa.uint64()),
        ("reasoning_tokens", pa.uint64()),
        ("list_cost", _MONEY),
        ("revision", pa.uint32()),
        ("emitted_at", _STAMP),
        ("source_partition", pa.int32()),
    ]
)


class WindowRow(NamedTuple):
    """One revision of a window (revision 0: the window is still open)."""

    key: WindowKey
    end_ms: int
    totals: Frozen
    revision: int
    emitted_at_ms: int
    partition: int

    @property
    def window_id(self) -> str:
        return window_id(self.key)


def record(row: WindowRow) -> dict[str, Any]:
    """The WindowAggregate v1 object of a published revision (JSON-ready)."""
    start, end = bounds_text(row.key, row.end_ms)
    t = row.totals
    return {
        "schema_version": 1,
        "window_id": row.window_id,
        "account_id": row.key.account_id,
        "api_key_id": row.key.api_key_id,
        "model": row.key.model,
        "granularity": row.key.granularity,
        "window_start": start,
        "window_end": end,
        "requests": t.requests,
        "input_tokens": t.input_tokens,
        "output_tokens": t.output_tokens,
        "total_tokens": t.input_tokens + t.output_tokens,
        "cached_input_tokens": t.cached_input_tokens,
        "cache_write_tokens": t.cache_write_tokens,
        "reasoning_tokens": t.reasoning_tokens,
        "list_cost": decimal_text(t.list_cost),
        "revision": row.revision,
        "emitted_at": iso_utc(row.emitted_at_ms),
    }


def parse_record(value: bytes) -> WindowAggregate:
    """A record of the windows topic, validated (ValueError if it is not WindowAggregate v1)."""
    return WindowAggregate.model_validate_json(value)


def now_ms(now: datetime) -> int:
    return to_ms(now)


def rows_table(rows: Sequence[WindowRow]) -> pa.Table:
    """The rows as one Arrow table with the columns of `window_aggregates`."""
    keys = [r.key for r in rows]
    totals: list[tuple[Any, ...]] = list(zip(*(r.totals for r in rows), strict=True)) or [() for _ in Frozen._fields]
    windows = {
        "granularity": pa.array([k.granularity for k in keys], pa.string()),
        "account_id": pa.array([k.account_id for k in keys], pa.string()),
        "api_key_id": pa.array([k.api_key_id for k in keys], pa.string()),
        "model": pa.array([k.model for k in keys], pa.string()),
        "start_ms": pa.array([k.start_ms for k in keys], pa.int64()),
        "end_ms": pa.array([r.end_ms for r in rows], pa.int64()),
        "zone": pa.array([k.zone for k in keys], pa.string()),
        "window_date": pa.array([day_of(k.zone, k.start_ms) for k in keys], pa.date32()),
        **{name: pa.array(values, pa.int64()) for name, values in zip(Frozen._fields[:6], totals[:6], strict=True)},
        "list_cost": pa.array(totals[6], _MONEY),
    }
    return columns_table(
        pa.table(windows),
        pa.array([r.revision for r in rows], pa.uint32()),
        pa.array([r.emitted_at_ms for r in rows], pa.int64()),
        pa.array([r.partition for r in rows], pa.int32()),
    )


def batch_table(batch: BatchWindows, rows: Sequence[int], revision: int, stamp_ms: int) -> pa.Table:
    """The windows of `batch` at `rows` with the batch's totals, as rows of `revision`."""
    picked = batch.table.take(pa.array(rows, pa.int64()))
    n = len(rows)
    return columns_table(
        picked,
        pa.repeat(pa.scalar(revision, pa.uint32()), n),
        pa.repeat(pa.scalar(stamp_ms, pa.int64()), n),
        picked.column("last_partition"),
    )


def columns_table(windows: pa.Table, revision: Column, emitted_at_ms: Column, partition: Column) -> pa.Table:
    """A `window_aggregates` table. `windows` holds each row's key (`granularity`, `account_id`,
    `api_key_id`, `model`, `start_ms`, `zone`), `end_ms`, `window_date`, `requests`, the five
    token counts and `list_cost` (Decimal(38, 12), exact)."""
    col = windows.column
    count = {name: col(name).cast(pa.uint64()) for name in Frozen._fields[:6]}
    ids = window_ids(
        col("granularity"), col("account_id"), col("api_key_id"), col("model"), col("start_ms"), col("zone"),
        col("window_date"),
    )  # fmt: skip
    columns = [
        ids,
        col("granularity"),
        col("account_id"),
        col("api_key_id"),
        col("model"),
        col("start_ms").cast(_STAMP),
        col("end_ms").cast(_STAMP),
        col("zone"),
        col("window_date"),
        count["requests"],
        count["input_tokens"],
        count["output_tokens"],
        pc.add(count["input_tokens"], count["output_tokens"]),
        count["cached_input_tokens"],
        count["cache_write_tokens"],
        count["reasoning_tokens"],
        col("list_cost").cast(_MONEY),
        revision,
        emitted_at_ms.cast(_STAMP),
        partition.cast(pa.int32()),
    ]
    return pa.Table.from_arrays(columns, schema=TABLE_SCHEMA)


def table_records(table: pa.Table) -> list[tuple[bytes, bytes]]:
    """(key, value) of the windows topic for every row of a `window_aggregates` table: the
    `window_id` and the WindowAggregate v1 JSON (usageflow.windows.columns)."""
    keys = table.column("window_id").cast(pa.binary()).to_pylist()
    return list(zip(keys, record_values(table), strict=True))
