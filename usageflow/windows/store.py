"""What the warehouse holds about windows: the aggregates of the stored events (`rated_events
FINAL`), the rows of `window_aggregates` (highest revision, or the open row), and the insert.

Event times are compared as integer milliseconds (`toUnixTimestamp64Milli`), the way
usageflow.windows.slots computes window starts, so Python and SQL agree on every boundary.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa

from usageflow.warehouse import Warehouse
from usageflow.warehouse.client import BoundText
from usageflow.windows.records import WindowRow, rows_table
from usageflow.windows.slots import (
    HOUR_MS,
    MINUTE_MS,
    UTC_ZONE,
    WindowKey,
    day_bounds_ms,
    day_of,
    window_end_ms,
    window_id,
)
from usageflow.windows.totals import EMPTY, Frozen
from usageflow.windows.tracker import Held, Snapshot

_SUMS = (
    "count() AS requests, sum(toUInt64(input_tokens)) AS input_tokens, "
    "sum(toUInt64(output_tokens)) AS output_tokens, sum(toUInt64(cached_input_tokens)) AS cached_input_tokens, "
    "sum(toUInt64(cache_write_tokens)) AS cache_write_tokens, sum(toUInt64(reasoning_tokens)) AS reasoning_tokens, "
    "sum(list_cost) AS list_cost"
)
_ROW_TOTALS = (
    "requests, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, list_cost"
)
_SLOT_MS = {"1m": MINUTE_MS, "1h": HOUR_MS}
_DAY_SPAN_MS = 26 * HOUR_MS  # a local day lasts at most 25 h: its events are within 26 h of any of them


def frozen(row: Mapping[str, Any]) -> Frozen:
    return Frozen(
        int(row["requests"]),
        int(row["input_tokens"]),
        int(row["output_tokens"]),
        int(row["cached_input_tokens"]),
        int(row["cache_write_tokens"]),
        int(row["reasoning_tokens"]),
        Decimal(row["list_cost"]),
    )


def _json(value: Any) -> BoundText:
    return BoundText(orjson.dumps(value).decode())


# --- aggregates of the stored events --------------------------------------------------------


def aggregates(warehouse: Warehouse, keys: Iterable[WindowKey]) -> dict[WindowKey, Frozen]:
    """The totals of the stored events of each window of `keys` (absent: it has none)."""
    by_granularity: dict[str, list[WindowKey]] = defaultdict(list)
    for key in keys:
        by_granularity[key.granularity].append(key)
    found: dict[WindowKey, Frozen] = {}
    for granularity, group in by_granularity.items():
        found.update(_aggregate_group(warehouse, granularity, group))
    return found


def _aggregate_group(warehouse: Warehouse, granularity: str, keys: Sequence[WindowKey]) -> dict[WindowKey, Frozen]:
    accounts = sorted({k.account_id for k in keys})
    lo = min(k.start_ms for k in keys)
    hi = max(window_end_ms(k) for k in keys)
    params = {"accounts": _json(accounts), "lo": lo, "hi": hi}
    where = (
        "account_id IN (SELECT arrayJoin(JSONExtract({accounts:String}, 'Array(String)'))) "
        "AND ts >= fromUnixTimestamp64Milli({lo:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({hi:Int64}, 'UTC')"
    )
    if granularity in _SLOT_MS:
        step = _SLOT_MS[granularity]
        params["keys"] = _json([[k.account_id, k.api_key_id, k.model, k.start_ms] for k in keys])
        rows = warehouse.query(
            f"SELECT account_id, api_key_id, model, intDiv(toUnixTimestamp64Milli(ts), {step}) * {step} AS slot, "
            f"{_SUMS} FROM rated_events FINAL WHERE {where} "
            "AND (account_id, api_key_id, model, slot) IN "
            "(SELECT arrayJoin(JSONExtract({keys:String}, 'Array(Tuple(String, String, String, Int64))'))) "
            "GROUP BY account_id, api_key_id, model, slot",
            params,
        )
        return {
            WindowKey(r["account_id"], r["api_key_id"], r["model"], granularity, int(r["slot"]), UTC_ZONE): frozen(r)  # type: ignore[arg-type]
            for r in rows
        }
    params["keys"] = _json(
        [[k.account_id, k.api_key_id, k.model, k.zone, day_of(k.zone, k.start_ms).isoformat()] for k in keys]
    )
    rows = warehouse.query(
        "SELECT account_id, api_key_id, model, billing_tz, toString(billing_date) AS day, "
        f"{_SUMS} FROM rated_events FINAL WHERE {where} "
        "AND (account_id, api_key_id, model, billing_tz, day) IN "
        "(SELECT arrayJoin(JSONExtract({keys:String}, 'Array(Tuple(String, String, String, String, String))'))) "
        "GROUP BY account_id, api_key_id, model, billing_tz, day",
        params,
    )
    return {_day_key(r): frozen(r) for r in rows}


def _day_key(row: Mapping[str, Any]) -> WindowKey:
    tz = row["billing_tz"]
    start = day_bounds_ms(tz, date.fromisoformat(row["day"]))[0]
    return WindowKey(row["account_id"], row["api_key_id"], row["model"], "1d", start, tz)


def range_aggregates(warehouse: Warehouse, account_id: str | None, lo_ms: int, hi_ms: int) -> dict[WindowKey, Frozen]:
    """Every window (all granularities) of the stored events with lo_ms <= ts < hi_ms, of one
    account or all (None). Windows that reach outside the range are only partly counted: widen
    the range by a day on both sides and keep the windows inside the original one."""
    params: dict[str, Any] = {"lo": lo_ms, "hi": hi_ms, "account": account_id or ""}
    where = (
        "({account:String} = '' OR account_id = {account:String}) "
        "AND ts >= fromUnixTimestamp64Milli({lo:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({hi:Int64}, 'UTC')"
    )
    rows = warehouse.query(
        "SELECT g, account_id, api_key_id, model, slot, day, zone, "
        "count() AS requests, sum(i) AS input_tokens, sum(o) AS output_tokens, sum(c) AS cached_input_tokens, "
        "sum(w) AS cache_write_tokens, sum(r) AS reasoning_tokens, sum(cost) AS list_cost FROM ("
        "SELECT account_id, api_key_id, model, toUnixTimestamp64Milli(ts) AS ms, billing_tz, "
        "toString(billing_date) AS d, toUInt64(input_tokens) AS i, toUInt64(output_tokens) AS o, "
        "toUInt64(cached_input_tokens) AS c, toUInt64(cache_write_tokens) AS w, toUInt64(reasoning_tokens) AS r, "
        f"list_cost AS cost FROM rated_events FINAL WHERE {where}) "
        f"ARRAY JOIN [('1m', intDiv(ms, {MINUTE_MS}) * {MINUTE_MS}, '', 'UTC'), "
        f"('1h', intDiv(ms, {HOUR_MS}) * {HOUR_MS}, '', 'UTC'), ('1d', toInt64(0), d, billing_tz)] AS x "
        "GROUP BY x.1 AS g, account_id, api_key_id, model, x.2 AS slot, x.3 AS day, x.4 AS zone",
        params,
    )
    found: dict[WindowKey, Frozen] = {}
    for r in rows:
        if r["g"] == "1d":
            key = _day_key({**r, "billing_tz": r["zone"]})
        else:
            key = WindowKey(r["account_id"], r["api_key_id"], r["model"], r["g"], int(r["slot"]), UTC_ZONE)
        found[key] = frozen(r)
    return found


# --- rows of window_aggregates ----------------------------------------------------------------


_ROW_COLUMNS = (
    "SELECT granularity, account_id, api_key_id, model, toUnixTimestamp64Milli(window_start) AS start_ms, "
    f"billing_tz, {_ROW_TOTALS}, revision, source_partition FROM window_aggregates FINAL"
)


def _row_key(row: Mapping[str, Any]) -> WindowKey:
    return WindowKey(
        row["account_id"], row["api_key_id"], row["model"], row["granularity"], int(row["start_ms"]), row["billing_tz"]
    )


def stored_rows(warehouse: Warehouse, keys: Iterable[WindowKey]) -> dict[WindowKey, dict[str, Any]]:
    """The current row (highest revision, else the open row) of each of `keys` that has one."""
    keys = list(keys)
    if not keys:
        return {}
    rows = warehouse.query(
        f"SELECT * FROM ({_ROW_COLUMNS} "
        "WHERE account_id IN (SELECT arrayJoin(JSONExtract({accounts:String}, 'Array(String)'))) "
        "AND window_start >= fromUnixTimestamp64Milli({lo:Int64}, 'UTC') "
        "AND window_start <= fromUnixTimestamp64Milli({hi:Int64}, 'UTC') "
        "AND window_id IN (SELECT arrayJoin(JSONExtract({ids:String}, 'Array(String)'))))",
        {
            "accounts": _json(sorted({k.account_id for k in keys})),
            "lo": min(k.start_ms for k in keys),
            "hi": max(k.start_ms for k in keys),
            "ids": _json(sorted({window_id(k) for k in keys})),
        },
    )
    return {_row_key(r): r for r in rows}


def rows_in_range(
    warehouse: Warehouse, account_id: str | None, lo_ms: int, hi_ms: int
) -> dict[WindowKey, dict[str, Any]]:
    """The current row of every window of one account (or all) overlapping [lo_ms, hi_ms)."""
    rows = warehouse.query(
        f"SELECT * FROM ({_ROW_COLUMNS} WHERE ({{account:String}} = '' OR account_id = {{account:String}}) "
        "AND window_start < fromUnixTimestamp64Milli({hi:Int64}, 'UTC') "
        "AND window_end > fromUnixTimestamp64Milli({lo:Int64}, 'UTC'))",
        {"account": account_id or "", "lo": lo_ms, "hi": hi_ms},
    )
    return {_row_key(r): r for r in rows}


def held_of(totals: Frozen | None, row: Mapping[str, Any] | None) -> Held:
    if row is None:
        return Held(totals=totals or EMPTY)
    current = frozen(row)
    revision = int(row["revision"])
    return Held(
        totals=totals or EMPTY,
        revision=revision,
        revised=current if revision > 0 else None,
        row=current,
        partition=int(row["source_partition"]),
    )


def held(warehouse: Warehouse, keys: Iterable[WindowKey]) -> dict[WindowKey, Held]:
    """For each of `keys`: its stored events' totals and its current row (absent: neither)."""
    keys = list(keys)
    if not keys:
        return {}
    sums = aggregates(warehouse, keys)
    rows = stored_rows(warehouse, keys)
    return {k: held_of(sums.get(k), rows.get(k)) for k in keys if k in sums or k in rows}


def insert(warehouse: Warehouse, rows: Sequence[WindowRow]) -> None:
    insert_table(warehouse, rows_table(rows))


def insert_table(warehouse: Warehouse, table: pa.Table) -> None:
    """Store a `window_aggregates` table (usageflow.windows.records)."""
    if table.num_rows:
        warehouse.insert_arrow("window_aggregates", table)


# --- restoring a worker ----------------------------------------------------------------------


def snapshot(warehouse: Warehouse) -> Snapshot:
    """What a worker restarts from: the newest stored event time of every account (a window
    starting later has no stored events), every window recorded as open, re-aggregated from the
    stored events (its open row may be behind them: a worker can die between its insert and its
    window rows), and per partition the newest event time the earlier life had read there (at
    least: the newest stored event of the accounts whose windows came from it)."""
    newest = {
        r["account_id"]: int(r["newest"])
        for r in warehouse.query(
            "SELECT account_id, toUnixTimestamp64Milli(max(ts)) AS newest FROM rated_events GROUP BY account_id"
        )
    }
    open_rows = {
        _row_key(r): r for r in warehouse.query(f"SELECT * FROM ({_ROW_COLUMNS}) WHERE revision = 0")
    }  # fmt: skip
    sums = aggregates(warehouse, open_rows) if open_rows else {}
    # Where each account's windows last came from (its day windows are the fewest rows).
    watermark: dict[int, int] = {}
    for r in warehouse.query(
        "SELECT account_id, argMax(source_partition, window_end) AS p FROM window_aggregates "
        "WHERE granularity = '1d' GROUP BY account_id"
    ):
        at = newest.get(r["account_id"])
        if at is not None and at > watermark.get(int(r["p"]), -1):
            watermark[int(r["p"])] = at
    return Snapshot(
        newest_ms=newest,
        open_windows={k: held_of(sums.get(k), r) for k, r in open_rows.items()},
        watermark=watermark,
    )


def latest_notice(warehouse: Warehouse) -> int:
    """When the newest recompute notice was recorded (epoch ms; 0: none)."""
    rows = warehouse.query("SELECT toUnixTimestamp64Milli(max(recomputed_at)) AS at FROM window_recomputes")
    return int(rows[0]["at"]) if rows and rows[0]["at"] else 0


def notices_since(warehouse: Warehouse, since_ms: int) -> list[dict[str, Any]]:
    """Recompute notices recorded at or after `since_ms`, oldest first."""
    return warehouse.query(
        "SELECT notice_id, account_id, toUnixTimestamp64Milli(range_start) AS start_ms, "
        "toUnixTimestamp64Milli(range_end) AS end_ms, toUnixTimestamp64Milli(recomputed_at) AS at "
        "FROM window_recomputes WHERE recomputed_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') "
        "ORDER BY recomputed_at, notice_id",
        {"since": since_ms},
    )


def record_notice(warehouse: Warehouse, notice_id: str, account_id: str, lo_ms: int, hi_ms: int) -> None:
    warehouse.command(
        "INSERT INTO window_recomputes (notice_id, account_id, range_start, range_end) VALUES "
        "({id:String}, {account:String}, fromUnixTimestamp64Milli({lo:Int64}, 'UTC'), "
        "fromUnixTimestamp64Milli({hi:Int64}, 'UTC'))",
        {"id": notice_id, "account": account_id, "lo": lo_ms, "hi": hi_ms},
    )


DAY_SPAN_MS = _DAY_SPAN_MS
