"""Graduated volume tiers: each token of the month is priced in the tier its position falls in.

The tier weight W(x) is Σ over tiers of (tokens of [0, x) inside the tier) × the tier's
multiplier; the blended tier factor is M(T) = W(T) / T with M(0) = 1, and a month's usage
charge is its list cost × M(T). The walk over the tiers is written once, in
`TierSchedule.locate`: the weight of every tier below the one `x` falls in is precomputed, so
W(x) is that sum plus the tokens inside the tier × its multiplier. `weight` gives W exactly as
a Fraction (invoices, reports); `weight_in` gives it in a Decimal context (the alert hot path
uses a 60-digit one, where W is exact for any realistic price book).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from decimal import Context, Decimal
from fractions import Fraction
from functools import lru_cache

from usageflow.pricing.money import finite_decimal
from usageflow.pricing.price_book import Tier


class TierSchedule:
    """The tiers of a price book, sorted by start, with the weight below each tier's start."""

    __slots__ = ("_below", "_below_exact", "_multipliers_exact", "max_multiplier", "multipliers", "starts")

    def __init__(self, tiers: Iterable[Tier]) -> None:
        ordered = sorted(tiers, key=lambda tier: tier.start)
        self.starts: tuple[int, ...] = tuple(tier.start for tier in ordered)
        self.multipliers: tuple[Decimal, ...] = tuple(tier.multiplier for tier in ordered)
        self._multipliers_exact = tuple(Fraction(m) for m in self.multipliers)
        below = [Fraction(0)]
        for i in range(1, len(ordered)):
            below.append(below[-1] + (self.starts[i] - self.starts[i - 1]) * self._multipliers_exact[i - 1])
        self._below_exact: tuple[Fraction, ...] = tuple(below)
        self._below: tuple[Decimal, ...] = tuple(_exact_decimal(w) for w in below)
        self.max_multiplier: Decimal = max(self.multipliers, default=Decimal(0)).max(Decimal(0))

    def locate(self, position: int) -> tuple[int, int]:
        """(index of the tier that token position `position` falls in, tokens of [0, position)
        inside that tier). A position at a tier's start is in that tier with 0 tokens in it;
        a position <= 0 (or below the first start) has no tokens: (-1, 0)."""
        index = bisect_right(self.starts, position) - 1
        if index < 0 or position <= 0:
            return -1, 0
        return index, position - self.starts[index]

    def tier_number(self, position: int) -> int:
        """1-based number of the tier a marker at `position` sits in (tier 1 at 0)."""
        return max(bisect_right(self.starts, position), 1)

    def weight(self, tokens: int) -> Fraction:
        """W(tokens), exact."""
        index, inside = self.locate(tokens)
        if index < 0:
            return Fraction(0)
        return self._below_exact[index] + inside * self._multipliers_exact[index]

    def weight_in(self, ctx: Context, tokens: int) -> Decimal:
        """W(tokens) in the precision of `ctx`."""
        index, inside = self.locate(tokens)
        if index < 0:
            return Decimal(0)
        return ctx.add(self._below[index], ctx.multiply(Decimal(inside), self.multipliers[index]))

    def blended_factor(self, tokens: int) -> Fraction:
        """M(T) = W(T) / T; 1 for no tokens."""
        if tokens <= 0:
            return Fraction(1)
        return self.weight(tokens) / tokens


def _exact_decimal(value: Fraction) -> Decimal:
    exact = finite_decimal(value)
    if exact is None:  # sums of whole tokens × decimal multipliers are finite decimals
        raise ValueError(f"tier weight {value} is not a finite decimal")
    return exact


@lru_cache(maxsize=64)
def tier_schedule(tiers: tuple[Tier, ...]) -> TierSchedule:
    """The schedule of a price book's tiers (`book.tiers`), built once per distinct tuple."""
    return TierSchedule(tiers)
