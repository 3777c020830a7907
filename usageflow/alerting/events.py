"""The small input record of the live aggregates: what windows, concurrency and alert rules
need of a rated event (pricing.rating.RatedEvent), nothing else."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from usageflow.pricing.rating import RatedEvent


class LiveEvent(NamedTuple):
    """One fresh (deduplicated) rated event (a NamedTuple: one is built per event, and the
    state rejects a naive `ts` or a negative latency when it uses them).

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
    day: str | None = None  # the local day of `ts` in `tz` when already known (the rated date)

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
            day=rated.billing_date.isoformat(),
        )


def as_live(event: LiveEvent | RatedEvent) -> LiveEvent:
    """A LiveEvent as is; a RatedEvent as a non-late LiveEvent."""
    return event if isinstance(event, LiveEvent) else LiveEvent.from_rated(event)
