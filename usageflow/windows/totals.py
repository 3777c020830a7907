"""What a window adds up: requests, tokens (with their token-type parts) and the exact list cost."""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

_ZERO = Decimal(0)


class Frozen(NamedTuple):
    """A window's totals at one moment (what a revision carried): compared for equality."""

    requests: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    list_cost: Decimal

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


EMPTY = Frozen(0, 0, 0, 0, 0, 0, _ZERO)


def plus(a: Frozen, b: Frozen) -> Frozen:
    """The totals of two disjoint sets of events together."""
    return Frozen(
        a.requests + b.requests,
        a.input_tokens + b.input_tokens,
        a.output_tokens + b.output_tokens,
        a.cached_input_tokens + b.cached_input_tokens,
        a.cache_write_tokens + b.cache_write_tokens,
        a.reasoning_tokens + b.reasoning_tokens,
        a.list_cost + b.list_cost,
    )
