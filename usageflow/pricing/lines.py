"""The lines of an invoice for one account and month, and their total.

Lines, in this order: `plan_fee` (not for payg), `usage` (list cost × blended tier factor of the
billable tokens), then each discount that applies as a negative line `running × (factor − 1)`,
where `running` is the unrounded subtotal (plan fee + usage) after the previous discounts.
Each line is computed exactly and rounded once to 0.01, half away from zero; the total is the
sum of the rounded lines.

With mixed prices every token of the month gets the same blended factor, so the usage charge
of `priced_tokens` tokens is list_cost × W(billable) / total_tokens: the month's blended list
price per token, through the tiers. For an invoice `priced_tokens` is the month's tokens; a
month-end estimate or a plan comparison prices another token count at the same mix.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import NamedTuple

from usageflow.pricing.money import money
from usageflow.pricing.terms import Terms
from usageflow.pricing.tiers import TierSchedule


class Line(NamedTuple):
    kind: str  # plan_fee | usage | discount_prepaid | discount_contract | discount_educational
    amount: Decimal  # rounded to 0.01
    tokens: int | None = None  # billable tokens, on the usage line only


def exact_lines(
    tiers: TierSchedule, terms: Terms, total_tokens: int, list_cost: Fraction, priced_tokens: int
) -> tuple[int, list[tuple[str, Fraction, int | None]]]:
    """Billable tokens and the unrounded lines of `priced_tokens` at the month's blended list
    price list_cost / total_tokens."""
    billable = terms.billable_tokens(priced_tokens)
    usage = list_cost * tiers.weight(billable) / total_tokens if total_tokens and billable else Fraction(0)
    lines: list[tuple[str, Fraction, int | None]] = []
    if not terms.is_payg:
        lines.append(("plan_fee", terms.fee, None))
    lines.append(("usage", usage, billable))
    running = terms.fee + usage
    for kind, factor in terms.discounts():
        lines.append((kind, running * (factor - 1), None))
        running *= factor
    return billable, lines


def rounded_lines(
    tiers: TierSchedule, terms: Terms, total_tokens: int, list_cost: Fraction, priced_tokens: int
) -> tuple[int, tuple[Line, ...], Decimal]:
    """Billable tokens, the lines rounded to 0.01 and their sum (the invoice total)."""
    billable, exact = exact_lines(tiers, terms, total_tokens, list_cost, priced_tokens)
    lines = tuple(Line(kind, money(amount), tokens) for kind, amount, tokens in exact)
    total = money(sum((line.amount for line in lines), Decimal(0)))
    return billable, lines, total


def invoice_total(tiers: TierSchedule, terms: Terms, tokens: int, list_cost: Fraction) -> Decimal:
    """The invoice total of a month with `tokens` tokens of list cost `list_cost`."""
    return rounded_lines(tiers, terms, tokens, list_cost, tokens)[2]
