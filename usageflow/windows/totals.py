"""What a window adds up: requests, tokens (with their token-type parts) and the exact list cost."""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from usageflow.pricing.rating import RatedEvent

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


class Totals:
    """Running totals of one window (mutable: one is kept per open window)."""

    __slots__ = (
        "cache_write_tokens",
        "cached_input_tokens",
        "input_tokens",
        "list_cost",
        "output_tokens",
        "reasoning_tokens",
        "requests",
    )

    def __init__(self, frozen: Frozen | None = None) -> None:
        if frozen is None:  # the common case: a new window
            self.requests = self.input_tokens = self.output_tokens = 0
            self.cached_input_tokens = self.cache_write_tokens = self.reasoning_tokens = 0
            self.list_cost = _ZERO
            return
        (
            self.requests,
            self.input_tokens,
            self.output_tokens,
            self.cached_input_tokens,
            self.cache_write_tokens,
            self.reasoning_tokens,
            self.list_cost,
        ) = frozen

    def add_event(self, rated: RatedEvent) -> None:
        e = rated.event
        self.requests += 1
        self.input_tokens += e.input_tokens
        self.output_tokens += e.output_tokens
        self.cached_input_tokens += e.cached_input_tokens
        self.cache_write_tokens += e.cache_write_tokens
        self.reasoning_tokens += e.reasoning_tokens
        self.list_cost += rated.list_cost

    def add(self, other: Totals) -> None:
        self.requests += other.requests
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cached_input_tokens += other.cached_input_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.reasoning_tokens += other.reasoning_tokens
        self.list_cost += other.list_cost

    def frozen(self) -> Frozen:
        return Frozen(
            self.requests,
            self.input_tokens,
            self.output_tokens,
            self.cached_input_tokens,
            self.cache_write_tokens,
            self.reasoning_tokens,
            self.list_cost,
        )

    def __repr__(self) -> str:
        return f"Totals{self.frozen()!r}"
