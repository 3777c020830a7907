"""The tests' window oracle: which windows an event belongs to and what each adds up to, in plain
Python, written independently of usageflow.windows (it imports nothing from it).

* 1m / 1h: the event time in UTC with the seconds (and minutes) set to zero;
* 1d: the local day of the rated row (`billing_date` in `billing_tz`); it starts at the first
  instant whose local date is that day, found by bisection on the zone's own conversion (no
  reliance on `fold` or on how midnight maps), and ends where the next day starts;
* totals: requests, the token counts and the exact list cost, summed with `Fraction`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from functools import cache
from zoneinfo import ZoneInfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, order=True)
class Slot:
    """A window: its granularity, start and end (UTC instants) and, for a day, the zone."""

    account_id: str
    api_key_id: str
    model: str
    granularity: str
    start: datetime
    end: datetime
    zone: str

    @property
    def start_ms(self) -> int:
        return (self.start - EPOCH) // timedelta(milliseconds=1)

    @property
    def end_ms(self) -> int:
        return (self.end - EPOCH) // timedelta(milliseconds=1)


@dataclass(frozen=True)
class Sums:
    requests: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    list_cost: Fraction


@cache
def first_instant_of(day: date, zone: str) -> datetime:
    """The earliest UTC instant (to the second) whose local date in `zone` is `day`."""
    tz = ZoneInfo(zone)
    guess = datetime(day.year, day.month, day.day, tzinfo=UTC)
    lo, hi = guess - timedelta(hours=30), guess + timedelta(hours=30)
    assert lo.astimezone(tz).date() < day <= hi.astimezone(tz).date()
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid.astimezone(tz).date() < day:
            lo = mid
        else:
            hi = mid
    return hi


def slots_of(rated: object) -> list[Slot]:
    """The three windows of one rated event (a `RatedEvent`: only its fields are read)."""
    e = rated.event  # type: ignore[attr-defined]
    ts = e.ts.astimezone(UTC)
    minute = ts.replace(second=0, microsecond=0)
    hour = minute.replace(minute=0)
    day = rated.billing_date  # type: ignore[attr-defined]
    zone = rated.billing_tz  # type: ignore[attr-defined]
    base = (e.account_id, e.api_key_id, e.model)
    return [
        Slot(*base, "1m", minute, minute + timedelta(minutes=1), "UTC"),
        Slot(*base, "1h", hour, hour + timedelta(hours=1), "UTC"),
        Slot(*base, "1d", first_instant_of(day, zone), first_instant_of(day + timedelta(days=1), zone), zone),
    ]


def aggregate(events: Iterable[object]) -> dict[Slot, Sums]:
    """The totals of every window of `events` (each event counted in each of its windows)."""
    acc: dict[Slot, list[object]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0, Fraction(0)])
    for rated in events:
        e = rated.event  # type: ignore[attr-defined]
        for slot in slots_of(rated):
            a = acc[slot]
            a[0] += 1  # type: ignore[operator]
            a[1] += e.input_tokens  # type: ignore[operator]
            a[2] += e.output_tokens  # type: ignore[operator]
            a[3] += e.cached_input_tokens  # type: ignore[operator]
            a[4] += e.cache_write_tokens  # type: ignore[operator]
            a[5] += e.reasoning_tokens  # type: ignore[operator]
            a[6] += Fraction(rated.list_cost)  # type: ignore[attr-defined,operator]
    return {slot: Sums(*a) for slot, a in acc.items()}  # type: ignore[arg-type]
