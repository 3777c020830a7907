"""What an account pays under: its plan's fee and quota, custom additions, discounts, limits.

- A plan's monthly fee covers its monthly tokens; tokens beyond the quota are the overage,
  billed through the graduated tiers.
- Custom additions: `extra_tokens` add to the quota and cost 0.004 per 1,000 (the price book's
  `custom_plan` rates) on the fee; each `extra_concurrent` adds one concurrent request and 50
  to the fee.
- Discounts apply in this order, multiplicatively: prepaid, a contract of at least 12 months,
  a certified educational institution (the factors come from the price book).
- `payg`, an unknown account (None) and a plan the price book does not have: no fee, no quota,
  every token billable; the account's discounts still apply (none for an unknown account).
- The daily token limit the alerts use is the plan's monthly tokens / 30, exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

from usageflow.pricing.price_book import Plan, PriceBook
from usageflow.schemas import Account

DAYS_PER_MONTH = 30
"""The daily token limit is the monthly tokens / DAYS_PER_MONTH, whatever the month's length."""

ONE = Fraction(1)
ZERO = Fraction(0)
DISCOUNT_KINDS = ("discount_prepaid", "discount_contract", "discount_educational")
"""The discount lines, in the order they apply."""


@dataclass(frozen=True, slots=True)
class Terms:
    """An account's plan and discounts for billing. The factors are 1 where a discount does not
    apply; `quota` and `max_concurrent` include the custom additions (0 for payg)."""

    plan: str
    is_payg: bool
    quota: int
    fee: Fraction
    max_concurrent: int = 0
    extra_tokens: int = 0
    prepaid: bool = False
    contract: bool = False
    educational: bool = False
    prepaid_factor: Fraction = ONE
    contract_factor: Fraction = ONE
    educational_factor: Fraction = ONE

    def discounts(self) -> Iterator[tuple[str, Fraction]]:
        """(line kind, factor) of each discount that applies, in the order they apply."""
        for applies, kind, factor in (
            (self.prepaid, DISCOUNT_KINDS[0], self.prepaid_factor),
            (self.contract, DISCOUNT_KINDS[1], self.contract_factor),
            (self.educational, DISCOUNT_KINDS[2], self.educational_factor),
        ):
            if applies:
                yield kind, factor

    @property
    def discount_factor(self) -> Fraction:
        """The product of the factors that apply."""
        return self.prepaid_factor * self.contract_factor * self.educational_factor

    def billable_tokens(self, tokens: int) -> int:
        """Tokens billed through the tiers: all of them for payg, the overage otherwise."""
        return tokens if self.is_payg else max(tokens - self.quota, 0)


class Allowance(NamedTuple):
    """The monthly tokens and concurrent requests of an account's plan, custom additions included."""

    plan: str
    monthly_tokens: int
    max_concurrent: int


def _plan(book: PriceBook, account: Account | None) -> Plan | None:
    return None if account is None else book.plans.get(account.plan)


def plan_allowance(book: PriceBook, account: Account | None) -> Allowance | None:
    """The account's plan limits, or None when it has no plan (payg, unknown, not in the book)."""
    plan = _plan(book, account)
    if account is None or plan is None:
        return None
    return Allowance(
        account.plan, plan.monthly_tokens + account.extra_tokens, plan.max_concurrent + account.extra_concurrent
    )


def account_terms(book: PriceBook, account: Account | None) -> Terms:
    """The terms of `account` under `book` (None: an unknown account, billed payg)."""
    if account is None:
        return Terms(plan="payg", is_payg=True, quota=0, fee=ZERO)
    d = book.discounts
    prepaid = account.prepaid
    contract = account.contract_months >= d.contract_min_months
    educational = account.educational
    prepaid_factor = Fraction(d.prepaid) if prepaid else ONE
    contract_factor = Fraction(d.contract) if contract else ONE
    educational_factor = Fraction(d.educational) if educational else ONE
    plan = _plan(book, account)
    allowance = plan_allowance(book, account)
    if plan is None or allowance is None:  # payg, or a plan the price book does not have
        return Terms(
            plan="payg",
            is_payg=True,
            quota=0,
            fee=ZERO,
            prepaid=prepaid,
            contract=contract,
            educational=educational,
            prepaid_factor=prepaid_factor,
            contract_factor=contract_factor,
            educational_factor=educational_factor,
        )
    rates = book.custom_plan
    fee = (
        Fraction(plan.monthly_fee)
        + Fraction(account.extra_tokens) / 1000 * Fraction(rates.extra_tokens_per_1k)
        + account.extra_concurrent * Fraction(rates.extra_concurrent_each)
    )
    return Terms(
        plan=allowance.plan,
        is_payg=False,
        quota=allowance.monthly_tokens,
        fee=fee,
        max_concurrent=allowance.max_concurrent,
        extra_tokens=account.extra_tokens,
        prepaid=prepaid,
        contract=contract,
        educational=educational,
        prepaid_factor=prepaid_factor,
        contract_factor=contract_factor,
        educational_factor=educational_factor,
    )


def daily_token_limit(monthly_tokens: int) -> Fraction:
    """The plan's daily token limit, exact (2,000,000 a month: 66,666 2/3 a day)."""
    return Fraction(monthly_tokens, DAYS_PER_MONTH)
