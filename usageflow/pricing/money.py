"""Money and rounding: amounts in yuan to the fen (0.01), halves away from zero.

Rounding happens only where the billing rules say: each invoice line, each report figure and
the alert's percentage. Everything before that is exact (`Fraction`, or `Decimal` where the
value is a finite decimal).
"""

from __future__ import annotations

import math
from decimal import MAX_PREC, ROUND_HALF_UP, Context, Decimal
from fractions import Fraction

CENT = Decimal("0.01")
_EXACT = Context(prec=MAX_PREC)  # scaleb never rounds in it


def money(value: Decimal | Fraction | int | str) -> Decimal:
    """Round to 0.01 half away from zero (ROUND_HALF_UP works on the magnitude)."""
    if isinstance(value, Fraction):
        return money_of_ratio(value.numerator, value.denominator)
    result = Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)
    if result == 0:
        return Decimal("0.00")  # never "-0.00"
    return result


def money_of_ratio(numerator: int, denominator: int) -> Decimal:
    """`money(Fraction(numerator, denominator))` in integer arithmetic (denominator > 0):
    the cents are ⌊(2·|n|·100 + d) / 2d⌋, the magnitude rounded half up."""
    cents = (200 * abs(numerator) + denominator) // (2 * denominator)
    if cents == 0:
        return Decimal("0.00")  # never "-0.00"
    return Decimal(-cents if numerator < 0 else cents).scaleb(-2, _EXACT)


def decimal_floor(value: Fraction, places: int) -> Decimal:
    """`value` rounded down (toward -infinity) to `places` decimals, exactly: for bounds that
    must stay on one side of an exact value (never a billed amount)."""
    return Decimal(math.floor(value * 10**places)).scaleb(-places, _EXACT)


def money_str(value: Decimal) -> str:
    """Exactly two decimals: "999.00", "-150.26"."""
    return f"{money(value):.2f}"


def round_half_up(value: Fraction) -> int:
    """A non-negative rational to the nearest integer, halves up."""
    return int((value + Fraction(1, 2)).__floor__())


def finite_decimal(value: Fraction) -> Decimal | None:
    """`value` as an exact Decimal, or None when it has no finite decimal expansion (1/3)."""
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        return None
    places = max(twos, fives)
    digits = value.numerator * 10**places // value.denominator
    return Decimal(f"{digits}E-{places}")  # from text: exact at any length (scaleb would round)


def decimal_or_cents(value: Fraction) -> Decimal:
    """Exact when `value` is a finite decimal, else rounded to 0.01 (a daily limit of 2,000,000
    tokens / 30 shows as 66666.67)."""
    exact = finite_decimal(value)
    return money(value) if exact is None else exact


def to_context(ctx: Context, value: Fraction) -> Decimal:
    """`value` in the precision of `ctx` (exact when it fits)."""
    return ctx.divide(Decimal(value.numerator), Decimal(value.denominator))
