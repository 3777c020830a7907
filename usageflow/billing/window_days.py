"""The usage report's daily breakdown from the stream's day windows (`usage_windows`, 1d).

An account's day windows are used only when they add up, to the token and to the last decimal of
list cost, to the month's stored events the rest of the report is computed from; otherwise (a
batch cut by a crash that the worker has not read again yet, or events stored before the stream
kept windows) the report keeps the days computed from the events. Either way the days of a
report add up to its total.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import fields
from decimal import Decimal
from typing import Any

from usageflow.billing.model import BreakdownRow, money
from usageflow.warehouse.client import Warehouse

# The token-type parts a breakdown row carries (the windows have all three).
_PARTS = tuple(
    f.name for f in fields(BreakdownRow) if f.name in ("cached_input_tokens", "cache_write_tokens", "reasoning_tokens")
)


def days_from_windows(
    warehouse: Warehouse, month: str, account_id: str | None, heads: Iterable[Mapping[str, Any]]
) -> dict[str, tuple[BreakdownRow, ...]]:
    """account -> its `by_day` rows from the day windows, for the accounts of `heads` (rows of
    `usage_report_for`: `account_id`, `total_tokens`, unrounded `list_cost`) whose windows match."""
    rows = warehouse.query(
        "SELECT account_id, toString(window_date) AS day, sum(total_tokens) AS tokens, sum(list_cost) AS exact, "
        "CAST(round(sum(list_cost), 2) AS Decimal(38, 2)) AS cost, sum(cached_input_tokens) AS cached_input_tokens, "
        "sum(cache_write_tokens) AS cache_write_tokens, sum(reasoning_tokens) AS reasoning_tokens FROM usage_windows "
        "WHERE granularity = '1d' AND formatDateTime(window_date, '%Y-%m') = {month:String} "
        "AND ({account:String} = '' OR account_id = {account:String}) "
        "GROUP BY account_id, day ORDER BY account_id, day",
        {"month": month, "account": account_id or ""},
    )
    by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_account[r["account_id"]].append(r)
    found: dict[str, tuple[BreakdownRow, ...]] = {}
    for head in heads:
        days = by_account.get(head["account_id"], [])
        tokens = sum(int(d["tokens"]) for d in days)
        exact = sum((Decimal(d["exact"]) for d in days), Decimal(0))
        if days and tokens == int(head["total_tokens"]) and exact == Decimal(head["list_cost"]):
            found[head["account_id"]] = tuple(
                BreakdownRow(d["day"], int(d["tokens"]), money(d["cost"]), **{p: int(d[p]) for p in _PARTS})
                for d in days
            )
    return found
