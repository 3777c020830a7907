"""The alert rules: limits, levels, crossing tests and Alert v1 records.

| type            | value                    | limit                          | period      |
|-----------------|--------------------------|--------------------------------|-------------|
| `daily_usage`   | local day's tokens       | plan monthly tokens / 30       | local day   |
| `monthly_usage` | local month's tokens     | plan monthly tokens            | local month |
| `concurrency`   | peak in-flight requests  | plan max concurrent            | local day   |
| `budget`        | month-to-date invoice    | account.monthly_budget (CNY)   | local month |
| `credits_low`   | credits left after it    | granted credits (CNY)          | local month |

(`credits_low` fires when the value falls to level × limit or below: usageflow.alerting.credits_rule.)

Choices where the event contract is silent:

* Plan limits include the custom plan additions (extra_tokens, extra_concurrent).
* `payg` accounts, unknown accounts (None, billed payg) and accounts whose plan is not in the
  price book get only budget alerts; accounts without a `monthly_budget` get no budget alert.
  A rule whose limit is 0 (a 0-token plan, a budget of 0) never fires (no percentage exists).
* A level fires when value >= level × limit, compared exactly (rationals: the daily limit
  monthly/30 is not a finite decimal).
* The budget value is what the invoice total (plan fee included — it is part of the invoice —
  plus custom plan fees, tiered overage usage and the discounts, every line rounded to 0.01)
  would be for the month-to-date tokens and list cost. It is computed by usageflow.pricing
  (the one production implementation of the invoice lines), so the alert and the invoice agree
  to the fen. With a monthly fee, the estimate starts at the discounted fee, so e.g. a 500 CNY
  budget on the standard plan (999) crosses 100 % with the first event.
* `limit` in the Alert is exact when it is a finite decimal, otherwise (daily limit) rounded
  to 0.01; `percentage` = value / exact limit × 100, rounded to 0.01 half away from zero;
  `level` is the canonical (normalised) decimal: 0.8, 1.
* `alert_id` = first 32 hex digits of sha256("account|type|period|level").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Context, Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from usageflow.pricing.lines import invoice_total
from usageflow.pricing.money import decimal_floor, decimal_or_cents, money_of_ratio, to_context
from usageflow.pricing.price_book import PriceBook
from usageflow.pricing.terms import Terms, account_terms, daily_token_limit, plan_allowance
from usageflow.pricing.tiers import TierSchedule, tier_schedule
from usageflow.schemas import Account, Alert, AlertType

RULE_TYPES: tuple[AlertType, ...] = ("daily_usage", "monthly_usage", "concurrency", "budget")
PeriodKind = Literal["day", "month"]
PERIOD_KIND: dict[AlertType, PeriodKind] = {
    "daily_usage": "day",
    "monthly_usage": "month",
    "concurrency": "day",
    "budget": "month",
    "credits_low": "month",
}

AlertKey = tuple[str, str, str, str]
"""(account_id, type, period, level) with level canonical (`level_str`)."""


@lru_cache(maxsize=256)
def _canonical_level(level: Decimal) -> tuple[str, Decimal]:
    text = level_str(level)
    return text, Decimal(text)


@lru_cache(maxsize=4096)
def shown_limit(limit: Fraction) -> Decimal:
    """The Alert's `limit` (one per rule and account terms: kept)."""
    return decimal_or_cents(limit)


def level_str(level: Decimal | str | float | int) -> str:
    """Canonical text of a level: `0.80` → `0.8`, `1.0` → `1`."""
    value = Decimal(str(level)) if isinstance(level, float) else Decimal(level)
    if not value.is_finite():
        raise ValueError(f"level must be a finite number, got {level!r}")
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def alert_id(account_id: str, rule_type: str, period: str, level: Decimal | str) -> str:
    """Deterministic id: the same (account, type, period, level) always gives the same id."""
    raw = f"{account_id}|{rule_type}|{period}|{level_str(level)}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def alert_key(alert: Alert) -> AlertKey:
    return (alert.account_id, alert.type, alert.period, level_str(alert.level))


class RuleConfig(BaseModel):
    """Levels per rule type (the defaults of the alert rules). An empty tuple disables a rule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    daily_usage: tuple[Decimal, ...] = (Decimal("0.8"),)
    monthly_usage: tuple[Decimal, ...] = (Decimal("0.9"),)
    concurrency: tuple[Decimal, ...] = (Decimal("0.75"),)
    budget: tuple[Decimal, ...] = (Decimal("0.5"), Decimal("0.8"), Decimal("1.0"))
    # remaining prepaid credits <= level × granted (usageflow.alerting.credits_rule): 0 = used up
    credits_low: tuple[Decimal, ...] = (Decimal("0"), Decimal("0.2"))

    @field_validator("daily_usage", "monthly_usage", "concurrency", "budget")
    @classmethod
    def _levels(cls, value: tuple[Decimal, ...]) -> tuple[Decimal, ...]:
        levels = {Decimal(level_str(v)) for v in value}
        if any(level <= 0 for level in levels):
            raise ValueError("levels must be > 0")
        return tuple(sorted(levels))

    @field_validator("credits_low")
    @classmethod
    def _credit_levels(cls, value: tuple[Decimal, ...]) -> tuple[Decimal, ...]:
        levels = {Decimal(level_str(v)) for v in value}
        if any(level < 0 for level in levels):
            raise ValueError("credits_low levels must be >= 0")
        return tuple(sorted(levels))

    def levels(self, rule_type: AlertType) -> tuple[Decimal, ...]:
        levels: tuple[Decimal, ...] = getattr(self, rule_type)
        return levels


DEFAULT_RULES = RuleConfig()


@dataclass(frozen=True, slots=True)
class Limits:
    """What an account's alerts compare against. None: the rule does not apply."""

    plan: str
    monthly_tokens: int | None
    max_concurrent: int | None
    monthly_budget: Decimal | None

    def limit(self, rule_type: AlertType) -> Fraction | None:
        """The exact limit of a rule, or None when the rule does not apply (or limit is 0)."""
        if rule_type == "budget":
            raw: Fraction | None = None if self.monthly_budget is None else Fraction(self.monthly_budget)
        elif rule_type == "concurrency":
            raw = None if self.max_concurrent is None else Fraction(self.max_concurrent)
        elif self.monthly_tokens is None:
            raw = None
        elif rule_type == "daily_usage":
            raw = daily_token_limit(self.monthly_tokens)
        else:
            raw = Fraction(self.monthly_tokens)
        return raw if raw else None  # 0 → no rule


def account_limits(account: Account | None, book: PriceBook) -> Limits:
    """Plan limits with custom additions; payg / unknown / plan missing from the book: none."""
    budget = account.monthly_budget if account is not None else None
    allowance = plan_allowance(book, account)
    if allowance is None:
        return Limits("payg", None, None, budget)
    return Limits(
        plan=allowance.plan,
        monthly_tokens=allowance.monthly_tokens,
        max_concurrent=allowance.max_concurrent,
        monthly_budget=budget,
    )


_CTX = Context(prec=60)
_NEVER, _ALWAYS = Decimal("Infinity"), Decimal("-Infinity")  # cost floors
_LINES_SLACK = Decimal("0.03")  # > 5 lines × 0.005 of rounding, + far more than arithmetic error


class BudgetEstimator:
    """Month-to-date invoice total for (tokens, list cost) under an account's terms.

    `__call__` is the exact invoice total (usageflow.pricing.lines). `approx` is the unrounded
    total (plan fee + tiered usage) × discount factors in 60-digit Decimal arithmetic; the
    invoice total (a sum of lines each rounded to 0.01, whose unrounded sum is exactly that
    value) differs from it by at most 0.025, so `may_reach` is a cheap and safe filter: when it
    says False, the exact total is below the threshold.
    """

    def __init__(self, book: PriceBook, account: Account | None) -> None:
        self.book = book
        self.terms: Terms = account_terms(book, account)
        self.tiers: TierSchedule = tier_schedule(book.tiers)
        self._fee = to_context(_CTX, self.terms.fee)
        self._factor = to_context(_CTX, self.terms.discount_factor)
        self._payg = self.terms.is_payg
        self._quota = self.terms.quota
        self._floors: dict[Fraction, Decimal] = {}

    def __call__(self, tokens: int, list_cost: Decimal | Fraction) -> Decimal:
        return invoice_total(self.tiers, self.terms, tokens, Fraction(list_cost))

    def approx(self, tokens: int, list_cost: Decimal) -> Decimal:
        """(fee + L × W(billable) / T) × Π discount factors, unrounded."""
        billable = tokens if self._payg else max(tokens - self._quota, 0)
        usage = Decimal(0)
        if tokens and billable:
            usage = _CTX.divide(_CTX.multiply(list_cost, self.tiers.weight_in(_CTX, billable)), Decimal(tokens))
        return _CTX.multiply(_CTX.add(self._fee, usage), self._factor)

    def upper_bound(self, list_cost: Decimal) -> Decimal:
        """At least `approx(t, list_cost) + slack` for every t: W(billable) <= t × the largest
        tier multiplier, so the usage term is at most list_cost × that multiplier."""
        usage = _CTX.multiply(list_cost, self.tiers.max_multiplier)
        return _CTX.multiply(_CTX.add(self._fee, usage), self._factor) + _LINES_SLACK

    def cost_floor(self, threshold: Fraction) -> Decimal:
        """A list cost below which the month-to-date total stays below `threshold` whatever the
        tokens: every cost under it has `upper_bound` (exactly: (fee + cost × max multiplier) ×
        factor + slack) below `threshold`. Rounded down to 10^-12, so the comparison a caller
        makes with it is one Decimal compare; -Infinity when every cost may reach it, Infinity
        when none can. Kept per threshold (an estimator is shared by the accounts of the same
        terms)."""
        floor = self._floors.get(threshold)
        if floor is None:
            floor = self._floors[threshold] = self._cost_floor(threshold)
        return floor

    def _cost_floor(self, threshold: Fraction) -> Decimal:
        factor = self.terms.discount_factor
        slope = Fraction(self.tiers.max_multiplier) * factor
        room = threshold - Fraction(_LINES_SLACK) - self.terms.fee * factor
        if slope <= 0:
            return _NEVER if room > 0 else _ALWAYS
        if room <= 0:
            return _ALWAYS
        return decimal_floor(room / slope, 12)

    def may_reach(self, tokens: int, list_cost: Decimal, threshold: Decimal | Fraction) -> bool:
        """False only when the exact total is surely below `threshold`."""
        return self.approx(tokens, list_cost) + _LINES_SLACK >= threshold


def budget_estimate(book: PriceBook, account: Account | None, tokens: int, list_cost: Decimal | Fraction) -> Decimal:
    """The invoice total the month-to-date usage would give, exact to the fen."""
    return BudgetEstimator(book, account)(tokens, list_cost)


def crossed_levels(value: int | Decimal | Fraction, limit: Fraction, levels: Iterable[Decimal]) -> list[Decimal]:
    """The levels reached: value >= level × limit (exact)."""
    v = Fraction(value)
    return [level for level in levels if v >= Fraction(level) * limit]


def make_alert(
    *,
    account_id: str,
    rule_type: AlertType,
    period: str,
    level: Decimal,
    value: int | Decimal,
    limit: Fraction,
    triggered_at: datetime,
    emitted_at: datetime,
    plan: str,
) -> Alert:
    """An Alert v1 for a crossing; `limit` is the exact limit (> 0)."""
    if limit <= 0:
        raise ValueError("limit must be > 0")
    canonical, level_value = _canonical_level(level)
    numerator, denominator = value.as_integer_ratio()  # value / limit × 100, exact
    return Alert(
        alert_id=alert_id(account_id, rule_type, period, canonical),
        type=rule_type,
        account_id=account_id,
        period=period,
        level=level_value,
        value=Decimal(value),
        limit=shown_limit(limit),
        percentage=money_of_ratio(numerator * limit.denominator * 100, denominator * limit.numerator),
        triggered_at=triggered_at,
        emitted_at=emitted_at,
        plan=plan,
    )
