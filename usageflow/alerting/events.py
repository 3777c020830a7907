"""The small input record of the live aggregates: what windows, concurrency and alert rules
need of a rated event (pricing.rating.RatedEvent), nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from usageflow.pricing.rating import RatedEvent


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One fresh (deduplicated) rated event.

    `tz` is the account's billing time zone used when the event was rated (it decides the
    local day / month). `late` is set by the caller when the event is beyond the allowed
    lateness of its partition (see windows.is_late): late events are billed but never reach
    live windows or alerts.
    """

    account_id: str
    api_key_id: str
    model: str
    ts: datetime
    input_tokens: int
    output_tokens: int
    list_cost: Decimal
    tz: str
    latency_ms: int = 0
    late: bool = False

    def __post_init__(self) -> None:
        if self.ts.tzinfo is None or self.ts.utcoffset() is None:
            raise ValueError("LiveEvent.ts must be timezone-aware")
        if self.latency_ms < 0:
            raise ValueError("LiveEvent.latency_ms must be >= 0")

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def start(self) -> datetime:
        """When the request started: the interval [ts − latency, ts] it was in flight."""
        return self.ts - timedelta(milliseconds=self.latency_ms)

    @classmethod
    def from_rated(cls, rated: RatedEvent, *, late: bool = False) -> LiveEvent:
        e = rated.event
        return cls(
            account_id=e.account_id,
            api_key_id=e.api_key_id,
            model=e.model,
            ts=e.ts,
            input_tokens=e.input_tokens,
            output_tokens=e.output_tokens,
            list_cost=rated.list_cost,
            tz=rated.billing_tz,
            latency_ms=e.latency_ms,
            late=late,
        )


def as_live(event: LiveEvent | RatedEvent) -> LiveEvent:
    """A LiveEvent as is; a RatedEvent as a non-late LiveEvent."""
    return event if isinstance(event, LiveEvent) else LiveEvent.from_rated(event)
