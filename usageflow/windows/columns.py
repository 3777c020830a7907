"""Window revisions as columns: the `window_id` and the WindowAggregate v1 JSON of every row of a
`window_aggregates` table, computed over the whole table at once.

A batch publishes tens of thousands of revisions; writing each record with Python string
formatting cost ~5 µs a record, and converting each `list_cost` Decimal to text ~1 µs. Here
the texts are Arrow columns joined in C; what stays per row in Python is the sha256 of the
`window_id` (hashlib), and only the bounds of day windows in zones off UTC are written one by
one (a batch has few distinct ones: cached). The per-row reference is
`usageflow.windows.records.record`; the tests hold the two equal.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any, TypeAlias

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from usageflow.schemas.window_aggregate import decimal_text
from usageflow.windows.slots import UTC_ZONE, iso_in_zone, iso_utc

Column: TypeAlias = Any  # a pyarrow Array or ChunkedArray (pyarrow ships no type hints)
_UNITS = 10**12  # list_cost is Decimal(38, 12)
_YEAR_10000_MS = 253_402_300_800_000  # 10000-01-01T00:00:00Z: Arrow's text form widens from here
_TEXT = pa.string()
_COUNTS = (
    "requests",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)


def window_ids(granularity: Column, account: Column, api_key: Column, model: Column, start_ms: Column,
               zone: Column, window_date: Column) -> pa.Array:  # fmt: skip
    """`window_id` of each row (usageflow.windows.slots): the first 32 hex digits of the sha256
    of `account|api_key|model|granularity|start label`, the label being the start in UTC for a
    minute or hour window and `YYYY-MM-DD zone` for a day window."""
    is_day = pc.equal(granularity, "1d")
    day_label = pc.binary_join_element_wise(window_date.cast(_TEXT), zone, " ")
    label = pc.if_else(is_day, day_label, utc_texts(start_ms))
    joined = pc.binary_join_element_wise(account, api_key, model, granularity, label, "|").cast(pa.binary())
    sha = hashlib.sha256
    digests = b"".join([sha(raw).digest() for raw in joined.to_pylist()])
    n = len(joined)
    hexed = np.frombuffer(digests.hex().encode(), dtype=np.uint8).reshape(n, 64)[:, :32].tobytes()
    offsets = np.arange(0, 32 * n + 1, 32, dtype=np.int32).tobytes()
    return pa.Array.from_buffers(_TEXT, n, [None, pa.py_buffer(offsets), pa.py_buffer(hexed)])


def utc_texts(ms: Column) -> Column:
    """`iso_utc` of each instant: `2026-11-28T10:05:00Z`, milliseconds only when there are some.
    Arrow's own cast of a timestamp to text (`2026-11-28 10:05:00.000`, fixed width from 1970
    to 9999) with the separator and the zone put right: ~0.1 µs a row, where Arrow's strftime
    costs ~1 µs and integer kernels ~0.3 µs. A column of one instant (`emitted_at`) is written
    once."""
    ms = ms.cast(pa.int64())
    if len(ms) == 0:
        return pa.array([], _TEXT)
    bounds = pc.min_max(ms)
    first, last = bounds["min"].as_py(), bounds["max"].as_py()
    if first < 0 or last >= _YEAR_10000_MS:
        return pa.array([iso_utc(v) for v in ms.to_pylist()], _TEXT)
    if first == last:
        return pa.repeat(pa.scalar(iso_utc(first), _TEXT), len(ms))
    texts = ms.cast(pa.timestamp("ms")).cast(_TEXT)  # 2026-11-28 10:05:00.000
    whole = pc.equal(pc.subtract(ms, pc.multiply(pc.divide(ms, 1000), 1000)), 0)
    texts = pc.if_else(whole, pc.utf8_slice_codeunits(texts, 0, 19), texts)
    return pc.binary_join_element_wise(pc.replace_substring(texts, " ", "T", max_replacements=1), "Z", "")


def _bound_texts(granularity: Column, ms: Column, zone: Column) -> Column:
    """Window bounds as records carry them: UTC, or a day window's local offset (`iso_in_zone`)."""
    ms = ms.cast(pa.int64())
    texts = utc_texts(ms)
    local = pc.and_(pc.equal(granularity, "1d"), pc.not_equal(zone, UTC_ZONE))
    if not pc.any(local).as_py():
        return texts
    local = local.combine_chunks() if isinstance(local, pa.ChunkedArray) else local
    rows = pc.indices_nonzero(local)
    values = [_in_zone(v, z) for v, z in zip(ms.take(rows).to_pylist(), zone.take(rows).to_pylist(), strict=True)]
    texts = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    return pc.replace_with_mask(texts, local, pa.array(values, _TEXT))


@lru_cache(maxsize=65_536)
def _in_zone(ms: int, zone: str) -> str:
    return iso_in_zone(ms, zone)


def record_values(table: pa.Table) -> list[bytes]:
    """The WindowAggregate v1 JSON of every row of `table` (a `window_aggregates` table of
    published revisions), in row order."""
    if table.num_rows == 0:
        return []
    col = table.column
    grans, zones = col("granularity"), col("billing_tz")
    parts: list[Column | str] = [
        '{"schema_version":1,"window_id":"',
        col("window_id"),
        '","account_id":"',
        col("account_id"),
        '","api_key_id":"',
        col("api_key_id"),
        '","model":',
        _json_strings(col("model")),
        ',"granularity":"',
        grans,
        '","window_start":"',
        _bound_texts(grans, col("window_start"), zones),
        '","window_end":"',
        _bound_texts(grans, col("window_end"), zones),
        '"',
    ]
    for name in _COUNTS:
        parts += [f',"{name}":', col(name).cast(_TEXT)]
    parts += [
        ',"list_cost":"',
        decimal_texts(col("list_cost")),
        '","revision":',
        col("revision").cast(_TEXT),
        ',"emitted_at":"',
        utc_texts(col("emitted_at")),
        '"}',
    ]
    arrays = [pa.scalar(p, _TEXT) if isinstance(p, str) else p for p in parts]
    joined = pc.binary_join_element_wise(*arrays, "")
    values: list[bytes] = joined.cast(pa.binary()).to_pylist()
    return values


def decimal_texts(values: Column) -> pa.Array:
    """Decimal(38, 12) values as `decimal_text` writes them (no exponent, no trailing zeros),
    from their unscaled integers: `int.frac` in C when every value is in 0 … 2**63 units (every
    real window), else each Decimal through `decimal_text`."""
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if array.null_count == 0 and len(array) > 0:
        words = np.frombuffer(array.buffers()[1], dtype=np.int64)[2 * array.offset : 2 * (array.offset + len(array))]
        low, high = words[0::2], words[1::2]
        if not high.any() and (low >= 0).all():
            units = pa.array(low, pa.int64())
            whole = pc.divide(units, _UNITS)
            fraction = pc.utf8_lpad(pc.subtract(units, pc.multiply(whole, _UNITS)).cast(_TEXT), 12, "0")
            fraction = pc.utf8_rtrim(fraction, "0")
            whole_text = whole.cast(_TEXT)
            dotted = pc.binary_join_element_wise(whole_text, fraction, ".")
            return pc.if_else(pc.equal(pc.utf8_length(fraction), 0), whole_text, dotted)
    return pa.array([decimal_text(v) for v in array.to_pylist()], _TEXT)


def _json_strings(values: Column) -> pa.Array:
    """Each string as a JSON string literal (models are free text; few distinct per batch)."""
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    encoded = array.dictionary_encode()
    dictionary = pa.array([orjson.dumps(v).decode() for v in encoded.dictionary.to_pylist()], _TEXT)
    return dictionary.take(encoded.indices)
