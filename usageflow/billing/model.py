"""Result records of billing: invoices (docs/pricing.md §6), usage reports (§7), plan
recommendations (§8) and cost hints (§9).

Both the SQL queries (usageflow.billing.queries) and the pure-Python reference
(usageflow.billing.reference) return these, so tests compare them with `==`. Money is a Decimal
with exactly two places; `to_json()` gives plain JSON values (money as strings with two
decimals, tokens as ints) in the shapes of docs/cli.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any, Protocol

CENT = Decimal("0.01")


def money(value: Decimal | Fraction | int | str) -> Decimal:
    """Round to 0.01 half away from zero (ROUND_HALF_UP works on the magnitude)."""
    if isinstance(value, Fraction):
        sign = -1 if value < 0 else 1
        cents = (abs(value) * 100 + Fraction(1, 2)).__floor__()
        result = Decimal(sign * cents).scaleb(-2)
    else:
        result = Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)
    if result == 0:
        return Decimal("0.00")  # never "-0.00"
    return result


def money_str(value: Decimal) -> str:
    """Exactly two decimals, as in docs/cli.md: "999.00", "-150.26"."""
    return f"{money(value):.2f}"


def round_half_up(value: Fraction) -> int:
    """A non-negative rational to the nearest integer, halves up."""
    return int((value + Fraction(1, 2)).__floor__())


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    kind: str  # plan_fee | usage | discount_prepaid | discount_contract | discount_educational
    amount: Decimal
    tokens: int | None = None  # billable tokens, on the usage line only

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "amount": money_str(self.amount)}
        if self.tokens is not None:
            out["tokens"] = self.tokens
        return out


@dataclass(frozen=True, slots=True)
class Invoice:
    account_id: str
    month: str
    plan: str
    tokens: int
    billable_tokens: int
    lines: tuple[InvoiceLine, ...]
    total: Decimal
    currency: str = "CNY"

    def to_json(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "month": self.month,
            "currency": self.currency,
            "plan": self.plan,
            "tokens": self.tokens,
            "billable_tokens": self.billable_tokens,
            "lines": [line.to_json() for line in self.lines],
            "total": money_str(self.total),
        }


@dataclass(frozen=True, slots=True)
class BreakdownRow:
    """Tokens and list cost (rounded to 0.01) of one key / model / region / feature / day."""

    key: str
    tokens: int
    list_cost: Decimal

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "tokens": self.tokens, "list_cost": money_str(self.list_cost)}


@dataclass(frozen=True, slots=True)
class CostHint:
    hint: str  # off_peak | light_model | region
    tokens_affected: int
    saving: Decimal

    def to_json(self) -> dict[str, Any]:
        return {
            "hint": self.hint,
            "tokens_affected": self.tokens_affected,
            "saving": money_str(self.saving),
        }


BREAKDOWNS = ("by_api_key", "by_model", "by_region", "by_feature", "by_day")


@dataclass(frozen=True, slots=True)
class UsageReport:
    account_id: str
    month: str
    plan: str
    as_of: date
    days_in_month: int
    days_elapsed: int
    total_tokens: int
    list_cost: Decimal  # rounded to 0.01
    average_daily: Decimal  # tokens per day, rounded to 0.01
    estimated_monthly: int
    cost_estimate: Decimal
    invoice_total_so_far: Decimal
    quota: int | None = None  # the plan's monthly tokens incl. custom additions; None for payg
    by_api_key: tuple[BreakdownRow, ...] = ()
    by_model: tuple[BreakdownRow, ...] = ()
    by_region: tuple[BreakdownRow, ...] = ()
    by_feature: tuple[BreakdownRow, ...] = ()
    by_day: tuple[BreakdownRow, ...] = ()
    hints: tuple[CostHint, ...] = ()
    currency: str = "CNY"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "account_id": self.account_id,
            "month": self.month,
            "currency": self.currency,
            "plan": self.plan,
            "as_of": self.as_of.isoformat(),
            "days_in_month": self.days_in_month,
            "days_elapsed": self.days_elapsed,
            "total_tokens": self.total_tokens,
            "list_cost": money_str(self.list_cost),
            "average_daily": money_str(self.average_daily),
            "estimated_monthly": self.estimated_monthly,
            "cost_estimate": money_str(self.cost_estimate),
            "invoice_total_so_far": money_str(self.invoice_total_so_far),
            "quota": self.quota,
        }
        for name in BREAKDOWNS:
            out[name] = [row.to_json() for row in getattr(self, name)]
        out["hints"] = [h.to_json() for h in self.hints]
        return out


@dataclass(frozen=True, slots=True)
class PlanQuote:
    """What the projected month would cost on one plan (an invoice total)."""

    plan: str
    is_current: bool
    billable_tokens: int
    plan_fee: Decimal
    usage: Decimal
    total: Decimal

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "current": self.is_current,
            "billable_tokens": self.billable_tokens,
            "plan_fee": money_str(self.plan_fee),
            "usage": money_str(self.usage),
            "total": money_str(self.total),
        }


@dataclass(frozen=True, slots=True)
class Recommendation:
    account_id: str
    month: str  # the base month
    growth: Decimal
    base_tokens: int
    projected_tokens: int
    current_plan: str
    current_cost: Decimal
    recommended_plan: str
    recommended_cost: Decimal
    saving: Decimal
    options: tuple[PlanQuote, ...] = field(default=())
    currency: str = "CNY"

    def to_json(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "month": self.month,
            "currency": self.currency,
            "growth": format(self.growth.normalize(), "f"),
            "base_tokens": self.base_tokens,
            "projected_tokens": self.projected_tokens,
            "current_plan": self.current_plan,
            "current_cost": money_str(self.current_cost),
            "recommended_plan": self.recommended_plan,
            "recommended_cost": money_str(self.recommended_cost),
            "saving": money_str(self.saving),
            "options": [o.to_json() for o in self.options],
        }


class _Jsonable(Protocol):
    def to_json(self) -> dict[str, Any]: ...


def dumps(items: _Jsonable | Iterable[_Jsonable]) -> str:
    """JSON text of one record or a list of them (docs/cli.md: invoices print as an array)."""
    if hasattr(items, "to_json"):
        return json.dumps(items.to_json(), ensure_ascii=False)
    seq: Sequence[_Jsonable] = list(items)
    return json.dumps([item.to_json() for item in seq], ensure_ascii=False)
