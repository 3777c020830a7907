"""Prepaid credits (docs/pricing.md §13): which grants pay a month, in which order, how much.

A grant is money an account paid in advance, to the fen. It pays a month when it is unexpired
at the month's end: it never expires, or its `expires` date (the last day it still pays) is on
or after the month's last day. A month's total is paid from those grants in draw order —
lowest priority number first, then earliest expiry (a grant that never expires comes after
every dated one), then the oldest grant, then the grant id — each grant giving what it still
holds until the total is paid. Amounts are exact Decimals to the fen; nothing here rounds.

The billing side (usageflow.billing) draws when it closes a month and shows what a draft would
draw; the `credits_low` alert (usageflow.alerting) uses `CreditPosition`.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

ZERO = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class Grant:
    grant_id: str
    account_id: str
    amount: Decimal  # > 0, to the fen
    expires: date | None  # the last day it pays; None: never expires
    priority: int
    granted_at: datetime

    def pays(self, month: str) -> bool:
        """Whether the grant is unexpired at the end of `month` ('YYYY-MM')."""
        return self.expires is None or self.expires >= month_last_day(month)

    def draw_key(self) -> tuple[int, bool, date, datetime, str]:
        return (self.priority, self.expires is None, self.expires or date.max, self.granted_at, self.grant_id)


@dataclass(frozen=True, slots=True)
class GrantBalance:
    """A grant and what issued invoices drew from it, per month."""

    grant: Grant
    drawn_by_month: Mapping[str, Decimal] = field(default_factory=dict)

    @property
    def drawn(self) -> Decimal:
        return sum(self.drawn_by_month.values(), ZERO)

    @property
    def remaining(self) -> Decimal:
        return self.grant.amount - self.drawn

    def remaining_without(self, month: str) -> Decimal:
        """What the grant would hold had `month` drawn nothing (its own draw given back)."""
        return self.remaining + self.drawn_by_month.get(month, ZERO)


@dataclass(frozen=True, slots=True)
class Draw:
    grant_id: str
    amount: Decimal  # > 0


def month_last_day(month: str) -> date:
    year, mon = int(month[:4]), int(month[5:7])
    return date(year, mon, calendar.monthrange(year, mon)[1])


def in_draw_order(balances: Iterable[GrantBalance]) -> list[GrantBalance]:
    return sorted(balances, key=lambda b: b.grant.draw_key())


def draw(balances: Iterable[GrantBalance], month: str, due: Decimal) -> list[Draw]:
    """What paying `due` (to the fen) for `month` takes from each grant, in draw order: only
    grants that pay the month and still hold something; never more than `due` in all."""
    left = max(due, ZERO)
    draws: list[Draw] = []
    for balance in in_draw_order(balances):
        if left <= 0:
            break
        if not balance.grant.pays(month) or balance.remaining <= 0:
            continue
        amount = min(balance.remaining, left)
        draws.append(Draw(balance.grant.grant_id, amount))
        left -= amount
    return draws


@dataclass(frozen=True, slots=True)
class CreditPosition:
    """The grants that pay one month: their amounts (`granted`) and what they hold for it
    (`available`: after every issued month's draw except the month's own)."""

    granted: Decimal
    available: Decimal

    def remaining_after(self, cost: Decimal) -> Decimal:
        """What would be left once `cost` is paid (never below 0.00)."""
        return max(self.available - max(cost, ZERO), ZERO)


def position(balances: Sequence[GrantBalance], month: str) -> CreditPosition | None:
    """The account's credit position for `month`; None when no grant pays that month."""
    paying = [b for b in balances if b.grant.pays(month)]
    if not paying:
        return None
    granted = sum((b.grant.amount for b in paying), ZERO)
    available = sum((max(b.remaining_without(month), ZERO) for b in paying), ZERO)
    return CreditPosition(granted=granted, available=available)
