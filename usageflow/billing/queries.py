"""Billing reads: invoices (docs/pricing.md §6), usage reports (§7), plan recommendations (§8).

All arithmetic happens in the warehouse views (sql/01xx_*.sql); this module passes every
outside value as a server-side `{name:Type}` parameter and turns rows into the records of
usageflow.billing.model.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from usageflow.billing.model import (
    BREAKDOWNS,
    BreakdownRow,
    CostHint,
    Invoice,
    InvoiceLine,
    PlanQuote,
    Recommendation,
    UsageReport,
    money,
)
from usageflow.billing.window_days import days_from_windows
from usageflow.errors import UsageflowError
from usageflow.warehouse.client import Warehouse

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
HINT_ORDER = ("off_peak", "light_model", "region")


def _month(value: str) -> str:
    if not isinstance(value, str) or not _MONTH.match(value):
        raise UsageflowError(f"month must look like YYYY-MM, not {value!r}")
    return value


def _range(month: str, account_id: str | None) -> dict[str, Any]:
    m = _month(month)
    return {"month_from": m, "month_to": m, "account": account_id or ""}


def billing_period(warehouse: Warehouse) -> dict[str, Any]:
    """today_local, current_month, last_full_month, first_month, last_month (see the view)."""
    rows = warehouse.query("SELECT * FROM billing_period")
    return rows[0]


def invoices(warehouse: Warehouse, month: str, account_id: str | None = None) -> list[Invoice]:
    """Invoices of `month` ('YYYY-MM'): every account with usage in the month and every known
    account with a plan; with `account_id`, that account only (a payg invoice of 0.00 if it
    has neither). Sorted by account id.

    One read of `invoice_base_for`; the lines are its amount columns in the order and with
    the presence rules of `invoice_lines_for` (plan_fee unless payg, usage always, each
    discount that applies)."""
    rows = warehouse.query(
        "SELECT account_id, month, currency, plan, is_payg, tokens, billable_tokens, prepaid, "
        "contract, educational, amount_plan_fee, amount_usage, amount_discount_prepaid, "
        "amount_discount_contract, amount_discount_educational, total "
        "FROM invoice_base_for(month_from = {month_from:String}, month_to = {month_to:String}, "
        "account = {account:String}) ORDER BY account_id",
        _range(month, account_id),
    )
    return [_invoice(r) for r in rows]


def _invoice(r: dict[str, Any]) -> Invoice:
    lines = []
    if not r["is_payg"]:
        lines.append(InvoiceLine("plan_fee", money(r["amount_plan_fee"])))
    lines.append(InvoiceLine("usage", money(r["amount_usage"]), int(r["billable_tokens"])))
    for flag, kind in (("prepaid", "discount_prepaid"), ("contract", "discount_contract")):
        if r[flag]:
            lines.append(InvoiceLine(kind, money(r[f"amount_{kind}"])))
    if r["educational"]:
        lines.append(InvoiceLine("discount_educational", money(r["amount_discount_educational"])))
    return Invoice(
        account_id=r["account_id"],
        month=r["month"],
        plan=r["plan"],
        tokens=int(r["tokens"]),
        billable_tokens=int(r["billable_tokens"]),
        lines=tuple(lines),
        total=money(r["total"]),
        currency=r["currency"],
    )


invoice_from_row = _invoice
"""An Invoice from a row of invoice_base_for (the columns `invoices` selects); used by the
billing cycle (usageflow.billing.ledger)."""


def cost_hints(warehouse: Warehouse, month: str, account_id: str | None = None) -> dict[str, tuple[CostHint, ...]]:
    """Cost hints of docs/pricing.md §9 per account for `month`."""
    rows = warehouse.query(
        "SELECT account_id, hint, tokens_affected, saving FROM cost_hints "
        "WHERE month = {month:String} AND ({account:String} = '' OR account_id = {account:String}) "
        "ORDER BY account_id, indexOf(['off_peak', 'light_model', 'region'], hint)",
        {"month": _month(month), "account": account_id or ""},
    )
    out: dict[str, list[CostHint]] = defaultdict(list)
    for r in rows:
        out[r["account_id"]].append(CostHint(r["hint"], int(r["tokens_affected"]), money(r["saving"])))
    return {k: tuple(v) for k, v in out.items()}


def _breakdowns(warehouse: Warehouse, month: str, account_id: str | None) -> dict[str, dict[str, list[BreakdownRow]]]:
    rows = warehouse.query(
        "SELECT account_id, dim, key, sum(tokens) AS tokens, "
        "CAST(round(sum(list_cost), 2) AS Decimal(38, 2)) AS cost, sum(cached_input_tokens) AS cached, "
        "sum(cache_write_tokens) AS written, sum(reasoning_tokens) AS reasoning "
        "FROM usage_breakdown "
        "ARRAY JOIN [('by_api_key', toString(api_key_id)), ('by_model', toString(model)), "
        "('by_region', toString(region)), ('by_feature', toString(feature)), "
        "('by_day', toString(billing_date))] AS d "
        "WHERE billing_month = {month:String} "
        "AND ({account:String} = '' OR account_id = {account:String}) "
        "GROUP BY account_id, d.1 AS dim, d.2 AS key ORDER BY account_id, dim, key",
        {"month": _month(month), "account": account_id or ""},
    )
    out: dict[str, dict[str, list[BreakdownRow]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        out[r["account_id"]][r["dim"]].append(
            BreakdownRow(
                r["key"],
                int(r["tokens"]),
                money(r["cost"]),
                int(r["cached"]),
                int(r["written"]),
                int(r["reasoning"]),
            )
        )
    return out


def report(
    warehouse: Warehouse,
    month: str,
    account_id: str | None = None,
    as_of: date | None = None,
) -> list[UsageReport]:
    """Usage reports of `month` as of the local date `as_of` (default: today in the price
    book's billing time zone), with breakdowns and cost hints. Same accounts as `invoices`."""
    params: dict[str, Any] = _range(month, account_id)
    params["as_of"] = as_of if as_of is not None else billing_period(warehouse)["today_local"]
    heads = warehouse.query(
        "SELECT * FROM usage_report_for(month_from = {month_from:String}, "
        "month_to = {month_to:String}, account = {account:String}, as_of = {as_of:Date}) "
        "ORDER BY account_id",
        params,
    )
    parts = _breakdowns(warehouse, month, account_id)
    for acct, days in days_from_windows(warehouse, month, account_id, heads).items():
        parts[acct]["by_day"] = list(days)  # the stream's day windows, where they add up (window_days.py)
    hints = cost_hints(warehouse, month, account_id)
    reports = []
    for h in heads:
        acct = h["account_id"]
        dims = parts.get(acct, {})
        reports.append(
            UsageReport(
                account_id=acct,
                month=h["month"],
                plan=h["plan"],
                as_of=h["as_of"],
                days_in_month=int(h["days_in_month"]),
                days_elapsed=int(h["days_elapsed"]),
                total_tokens=int(h["total_tokens"]),
                list_cost=money(h["list_cost"]),
                average_daily=money(h["average_daily"]),
                estimated_monthly=int(h["estimated_monthly"]),
                cost_estimate=money(h["cost_estimate"]),
                invoice_total_so_far=money(h["invoice_total_so_far"]),
                quota=int(h["quota"]) if h["plan"] != "payg" and h.get("quota") is not None else None,
                **{name: tuple(dims.get(name, ())) for name in BREAKDOWNS},
                hints=hints.get(acct, ()),
                currency=h["currency"],
            )
        )
    return reports


def _growth(value: Decimal | str | float) -> Decimal:
    try:
        growth = Decimal(str(value))
    except InvalidOperation as exc:
        raise UsageflowError(f"growth must be a number like 0.2, not {value!r}") from exc
    if not growth.is_finite() or growth < -1 or growth > 1000:
        raise UsageflowError(f"growth must be between -1 and 1000, not {value}")
    if growth != growth.quantize(Decimal("1e-12")):
        raise UsageflowError("growth may have at most 12 decimal places")
    return growth


def recommendations(
    warehouse: Warehouse,
    month: str,
    growth: Decimal | str = Decimal("0.2"),
    account_id: str | None = None,
) -> list[Recommendation]:
    """Plan recommendations (docs/pricing.md §8) for every account `invoices` covers in `month`
    (or for `account_id`), projecting month × (1 + growth). One read of `plan_quotes_for`."""
    g = _growth(growth)
    rows = warehouse.query(
        "SELECT * FROM plan_quotes_for(month = {month:String}, account = {account:String}, "
        "growth = {growth:Decimal(38, 12)}) "
        "ORDER BY account_id, is_payg DESC, monthly_tokens, plan",
        {"month": _month(month), "account": account_id or "", "growth": str(g)},
    )
    by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_account[r["account_id"]].append(r)
    return [_recommendation(options, g) for options in by_account.values()]


def _recommendation(options: Sequence[dict[str, Any]], g: Decimal) -> Recommendation:
    h = options[0]
    return Recommendation(
        account_id=h["account_id"],
        month=h["month"],
        growth=g,
        base_tokens=int(h["base_tokens"]),
        projected_tokens=int(h["projected_tokens"]),
        current_plan=h["current_plan"],
        current_cost=money(h["current_cost"]),
        recommended_plan=h["recommended_plan"],
        recommended_cost=money(h["recommended_cost"]),
        saving=money(h["saving"]),
        options=tuple(
            PlanQuote(
                plan=o["plan"],
                is_current=bool(o["is_current"]),
                billable_tokens=int(o["billable_tokens"]),
                plan_fee=money(o["amount_plan_fee"]),
                usage=money(o["amount_usage"]),
                total=money(o["total"]),
            )
            for o in options
        ),
    )


def recommend(
    warehouse: Warehouse,
    account_id: str,
    month: str | None = None,
    growth: Decimal | str = Decimal("0.2"),
) -> Recommendation:
    """Plan recommendation for one account; `month` is the base month (default: the last full
    month in the price book's billing time zone)."""
    if not account_id:
        raise UsageflowError("recommend needs an account id")
    base = month if month is not None else billing_period(warehouse)["last_full_month"]
    found = recommendations(warehouse, base, growth, account_id)
    if not found:  # only when no price book is loaded
        raise UsageflowError("no price book in the warehouse yet (the worker loads it when it starts)")
    return found[0]
