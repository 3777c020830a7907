"""Result records of billing: invoices, usage reports, plan recommendations and cost hints.

Both the SQL queries (usageflow.billing.queries) and the independent oracle of the tests
(tests/oracle/billing.py) return these, so tests compare them with `==`. Money is a Decimal
with exactly two places; `to_json()` gives plain JSON values (money as strings with two
decimals, tokens as ints) in the shapes the CLI prints. `money` and `money_str` live in
usageflow.pricing.money and are re-exported here for the readers of these records.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

from usageflow.pricing.money import money, money_str

__all__ = [
    "BREAKDOWNS",
    "OWN_KINDS",
    "BreakdownRow",
    "CostHint",
    "Invoice",
    "InvoiceLine",
    "PlanQuote",
    "Recommendation",
    "UsageReport",
    "dumps",
    "money",
    "money_str",
    "utc_text",
]


OWN_KINDS = frozenset({"plan_fee", "usage", "discount_prepaid", "discount_contract", "discount_educational"})
"""The lines of a month's own charges; `adjustment` and `credits` lines come after them."""


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    kind: str  # plan_fee | usage | discount_prepaid | discount_contract | discount_educational | adjustment | credits
    amount: Decimal
    tokens: int | None = None  # billable tokens, on the usage line only
    for_month: str | None = None  # the issued month an `adjustment` line corrects
    draws: tuple[tuple[str, Decimal], ...] = ()  # (grant id, amount drawn), on the `credits` line

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.for_month is not None:
            out["for_month"] = self.for_month
        out["amount"] = money_str(self.amount)
        if self.tokens is not None:
            out["tokens"] = self.tokens
        if self.draws:
            out["draws"] = [{"grant_id": g, "amount": money_str(a)} for g, a in self.draws]
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
    status: str = "draft"  # draft | issued (docs/pricing.md §12)
    number: str | None = None  # INV-YYYYMM-NNNNNN, once issued
    issued_at: datetime | None = None
    pending_adjustment: Decimal | None = None  # issued: a difference not carried yet (never 0)

    @property
    def charges(self) -> Decimal:
        """The month's own lines: plan fee, usage and discounts."""
        return sum((line.amount for line in self.lines if line.kind in OWN_KINDS), Decimal("0.00"))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "account_id": self.account_id,
            "month": self.month,
            "currency": self.currency,
            "plan": self.plan,
            "status": self.status,
        }
        if self.number is not None:
            out["number"] = self.number
        if self.issued_at is not None:
            out["issued_at"] = utc_text(self.issued_at)
        out.update(
            {
                "tokens": self.tokens,
                "billable_tokens": self.billable_tokens,
                "lines": [line.to_json() for line in self.lines],
                "total": money_str(self.total),
            }
        )
        if self.pending_adjustment is not None:
            out["pending_adjustment"] = money_str(self.pending_adjustment)
        return out


def utc_text(at: datetime) -> str:
    """An instant as RFC 3339 in UTC with milliseconds: 2026-12-01T09:30:00.000Z."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class BreakdownRow:
    """Tokens and list cost (rounded to 0.01) of one key / model / region / feature / day, with
    the token-type parts of those tokens (docs/events.md)."""

    key: str
    tokens: int
    list_cost: Decimal
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "tokens": self.tokens,
            "list_cost": money_str(self.list_cost),
            "cached_input_tokens": self.cached_input_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
        }


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
    """JSON text of one record or a list of them (invoices print as an array)."""
    if hasattr(items, "to_json"):
        return json.dumps(items.to_json(), ensure_ascii=False)
    seq: Sequence[_Jsonable] = list(items)
    return json.dumps([item.to_json() for item in seq], ensure_ascii=False)
