"""Account-local periods: the local day `2026-11-28` and month `2026-11` of an
instant in an IANA time zone, and the UTC instants where that day / month starts and ends.

A local day is not always 24 h: in America/Los_Angeles 2026-03-08 has 23 h and 2026-11-01 has
25 h. Bounds are computed from local midnights (`fold=0`, i.e. the first time the wall clock
reads 00:00, or the transition instant if 00:00 is skipped), so every instant of
[start, end) has that local date.

Instants are also handled as integer microseconds since the Unix epoch (`to_us` / `from_us`),
which is what the window and concurrency state keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

TimeZone = str | tzinfo
"""An IANA zone name (`Asia/Shanghai`) or a tzinfo."""


@lru_cache(maxsize=512)
def _zone_named(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone(tz: TimeZone) -> tzinfo:
    return _zone_named(tz) if isinstance(tz, str) else tz


def _aware(ts: datetime) -> datetime:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"timestamp {ts!r} must be timezone-aware")
    return ts


def to_us(ts: datetime) -> int:
    """Microseconds since the Unix epoch of an aware instant (exact)."""
    return (_aware(ts) - EPOCH) // _US


def from_us(us: int) -> datetime:
    """The UTC instant `us` microseconds after the Unix epoch."""
    return EPOCH + timedelta(microseconds=us)


def local_date(ts: datetime, tz: TimeZone) -> date:
    return _aware(ts).astimezone(zone(tz)).date()


def day_key(ts: datetime, tz: TimeZone) -> str:
    """`2026-11-28`: the account-local day of `ts`."""
    return local_date(ts, tz).isoformat()


def month_key(ts: datetime, tz: TimeZone) -> str:
    """`2026-11`: the account-local month of `ts`."""
    d = local_date(ts, tz)
    return f"{d.year:04d}-{d.month:02d}"


def parse_day(key: str) -> date:
    return date.fromisoformat(key)


def parse_month(key: str) -> tuple[int, int]:
    year, month = key.split("-")
    y, m = int(year), int(month)
    if len(year) != 4 or len(month) != 2 or not 1 <= m <= 12:
        raise ValueError(f"not a month key (YYYY-MM): {key!r}")
    return y, m


def month_of_day(key: str) -> str:
    """`2026-11` for the day key `2026-11-28`."""
    return key[:7]


def _local_midnight_utc(d: date, tz: TimeZone) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=zone(tz)).astimezone(UTC)


def _as_date(day: date | str) -> date:
    return parse_day(day) if isinstance(day, str) else day


def day_bounds(day: date | str, tz: TimeZone) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the local day `day` in `tz`."""
    d = _as_date(day)
    return _local_midnight_utc(d, tz), _local_midnight_utc(d + timedelta(days=1), tz)


def month_bounds(month: str, tz: TimeZone) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the local month `month` (`YYYY-MM`) in `tz`."""
    y, m = parse_month(month)
    nxt = date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1)
    return _local_midnight_utc(date(y, m, 1), tz), _local_midnight_utc(nxt, tz)


@lru_cache(maxsize=4096)
def _day_bounds_us(d: date, tz: str) -> tuple[int, int]:
    start, end = day_bounds(d, tz)
    return to_us(start), to_us(end)


def day_bounds_us(ts: datetime, tz: str) -> tuple[int, int]:
    """[start, end) in epoch microseconds of the local day containing `ts` (cached)."""
    return _day_bounds_us(local_date(ts, tz), tz)


@lru_cache(maxsize=16_384)
def shift_day(key: str, days: int) -> str:
    return (parse_day(key) + timedelta(days=days)).isoformat()


@lru_cache(maxsize=4096)
def shift_month(key: str, months: int) -> str:
    y, m = parse_month(key)
    index = y * 12 + (m - 1) + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@dataclass(frozen=True, slots=True)
class Period:
    """A local day or month: its key and [start, end) in UTC."""

    key: str
    start: datetime
    end: datetime

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


def day_period(ts: datetime, tz: TimeZone) -> Period:
    d = local_date(ts, tz)
    start, end = day_bounds(d, tz)
    return Period(d.isoformat(), start, end)


def month_period(ts: datetime, tz: TimeZone) -> Period:
    key = month_key(ts, tz)
    start, end = month_bounds(key, tz)
    return Period(key, start, end)
