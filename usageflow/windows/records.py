"""A window revision as the windows topic carries it (WindowAggregate v1 JSON) and as the
`window_aggregates` table stores it (one Arrow table per batch)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple

import orjson
import pyarrow as pa

from usageflow.schemas import WindowAggregate
from usageflow.schemas.window_aggregate import decimal_text
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
    wid: str = ""  # window_id(key), when the caller has it already

    @property
    def window_id(self) -> str:
        return self.wid or window_id(self.key)


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


def record_bytes(row: WindowRow) -> bytes:
    """`record(row)` as JSON bytes, written directly (one per published window: this is the hot
    path). Identifiers are of `[A-Za-z0-9._:-]`, timestamps and ids ASCII: only the model name is
    escaped, by orjson."""
    k, t = row.key, row.totals
    start, end = bounds_text(k, row.end_ms)
    return (
        f'{{"schema_version":1,"window_id":"{row.window_id}","account_id":"{k.account_id}",'
        f'"api_key_id":"{k.api_key_id}","model":{_json_text(k.model)},"granularity":"{k.granularity}",'
        f'"window_start":"{start}","window_end":"{end}","requests":{t.requests},'
        f'"input_tokens":{t.input_tokens},"output_tokens":{t.output_tokens},'
        f'"total_tokens":{t.input_tokens + t.output_tokens},"cached_input_tokens":{t.cached_input_tokens},'
        f'"cache_write_tokens":{t.cache_write_tokens},"reasoning_tokens":{t.reasoning_tokens},'
        f'"list_cost":"{decimal_text(t.list_cost)}","revision":{row.revision},"emitted_at":"{iso_utc(row.emitted_at_ms)}"}}'
    ).encode()


@lru_cache(maxsize=1024)
def _json_text(value: str) -> str:
    return orjson.dumps(value).decode()


def parse_record(value: bytes) -> WindowAggregate:
    """A record of the windows topic, validated (ValueError if it is not WindowAggregate v1)."""
    return WindowAggregate.model_validate_json(value)


def now_ms(now: datetime) -> int:
    return to_ms(now)


def _unscaled(value: Decimal) -> bytes:
    scaled = value.scaleb(_MONEY_SCALE)
    unscaled = int(scaled)
    if unscaled != scaled:  # sums of 12-decimal list costs have at most 12 decimals
        raise ValueError(f"{value} has more than {_MONEY_SCALE} decimal places")
    return unscaled.to_bytes(16, "little", signed=True)


def rows_table(rows: Sequence[WindowRow]) -> pa.Table:
    """The rows as one Arrow table with the columns of `window_aggregates`."""
    keys = [r.key for r in rows]
    totals = [r.totals for r in rows]
    ids = [r.window_id for r in rows]
    money = pa.Array.from_buffers(
        _MONEY, len(rows), [None, pa.py_buffer(b"".join(_unscaled(t.list_cost) for t in totals))]
    )
    columns = [
        pa.array(ids, pa.string()),
        pa.array([k.granularity for k in keys], pa.string()),
        pa.array([k.account_id for k in keys], pa.string()),
        pa.array([k.api_key_id for k in keys], pa.string()),
        pa.array([k.model for k in keys], pa.string()),
        pa.array([k.start_ms for k in keys], pa.int64()).cast(_STAMP),
        pa.array([r.end_ms for r in rows], pa.int64()).cast(_STAMP),
        pa.array([k.zone for k in keys], pa.string()),
        pa.array([day_of(k.zone, k.start_ms) for k in keys], pa.date32()),
        pa.array([t.requests for t in totals], pa.uint64()),
        pa.array([t.input_tokens for t in totals], pa.uint64()),
        pa.array([t.output_tokens for t in totals], pa.uint64()),
        pa.array([t.input_tokens + t.output_tokens for t in totals], pa.uint64()),
        pa.array([t.cached_input_tokens for t in totals], pa.uint64()),
        pa.array([t.cache_write_tokens for t in totals], pa.uint64()),
        pa.array([t.reasoning_tokens for t in totals], pa.uint64()),
        money,
        pa.array([r.revision for r in rows], pa.uint32()),
        pa.array([r.emitted_at_ms for r in rows], pa.int64()).cast(_STAMP),
        pa.array([r.partition for r in rows], pa.int32()),
    ]
    return pa.Table.from_arrays(columns, schema=TABLE_SCHEMA)
