"""The accepted event-time range: what keeps a hostile `ts` from overflowing anything downstream.

Every instant inside the range converts to a local date and time in every time zone, as Python
datetimes and as warehouse values (`DateTime64(3, 'UTC')` holds 1900-2299, `Date` 1970-01-01 to
2149-06-06): the range can never be configured wider than `SAFE_EARLIEST`..`SAFE_LATEST`. The
upper end follows the wall clock (plus a small allowance for clock skew), so an event from the
future is dead-lettered instead of becoming its partition's newest event time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache

from usageflow.config import EventTimeSettings
from usageflow.errors import ConfigError, ValidationFailure

# One day inside the `Date` column's ends: local time is at most 14 hours off UTC.
SAFE_EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
SAFE_LATEST = datetime(2149, 6, 5, tzinfo=UTC)
DEFAULT_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
DEFAULT_MAX_AHEAD = timedelta(minutes=5)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """The range at one instant (computed once per batch, not per event)."""

    earliest: datetime
    latest: datetime
    _low: float = field(init=False, repr=False, compare=False)
    _high: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_low", self.earliest.timestamp())
        object.__setattr__(self, "_high", self.latest.timestamp())

    def check(self, ts: datetime) -> None:
        """Raise ValidationFailure(`ts_out_of_range`) unless earliest <= ts <= latest. (Compared
        as POSIX seconds: half the cost of comparing datetimes of different zones.)"""
        if self._low <= ts.timestamp() <= self._high:
            return
        side = "before the earliest accepted" if ts < self.earliest else "after the latest accepted"
        raise ValidationFailure(
            "ts_out_of_range",
            f"ts {ts.isoformat()} is {side} event time ({self.earliest.isoformat()} .. {self.latest.isoformat()})",
        )


class EventTimeRange:
    """`earliest` .. wall clock + `max_ahead`; `clock` is injectable (tests, replays of old data)."""

    def __init__(
        self,
        earliest: datetime = DEFAULT_EARLIEST,
        max_ahead: timedelta = DEFAULT_MAX_AHEAD,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if earliest.tzinfo is None or earliest.utcoffset() is None:
            raise ConfigError("the earliest accepted event time needs a UTC offset")
        if not SAFE_EARLIEST <= earliest < SAFE_LATEST:
            raise ConfigError(
                f"the earliest accepted event time must lie in {SAFE_EARLIEST.date()} .. {SAFE_LATEST.date()} "
                "(what the warehouse's date columns hold in every time zone)"
            )
        if max_ahead < timedelta(0):
            raise ConfigError("the allowance for event times ahead of the clock cannot be negative")
        self.earliest = earliest
        self.max_ahead = max_ahead
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: EventTimeSettings) -> EventTimeRange:
        return cls(settings.earliest, timedelta(seconds=settings.max_ahead_s))

    def window(self) -> TimeWindow:
        latest = min(self.clock() + self.max_ahead, SAFE_LATEST)
        return TimeWindow(self.earliest, max(latest, self.earliest))


@cache
def default_event_time_range() -> EventTimeRange:
    """The range of the `USAGEFLOW_EVENT_TIME_*` settings, read once per process."""
    return EventTimeRange.from_settings(EventTimeSettings())
