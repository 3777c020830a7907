"""Which windows an event falls in, where each window starts and ends, and its `window_id`.

Three tumbling windows per `(account_id, api_key_id, model)`:

* `1m` and `1h`: UTC, aligned to the Unix epoch;
* `1d`: the account's local day in its billing time zone, as the rating computed it (the rated
  row's `billing_date` in `billing_tz`). A local day is not always 24 h (23 or 25 h on a DST
  change): it runs from the first instant whose local date is that day to the first instant of
  the next one.

Instants are integer milliseconds since the Unix epoch (the warehouse keeps event times to the
millisecond), so flooring to a minute or an hour is exact integer arithmetic.

A window is identified by its account, key, model, granularity and start; a day window's start
is the local day *in a zone*, so the zone is part of it (two zones can share a midnight instant
and still be different days for the warehouse). `window_id` = the first 32 hex digits of
sha256("account|api_key|model|granularity|start"), start being `2026-11-28T10:05:00Z` for a
minute or an hour window and `2026-11-28 Asia/Shanghai` for a day window.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

Granularity = Literal["1m", "1h", "1d"]
GRANULARITIES: tuple[Granularity, ...] = ("1m", "1h", "1d")
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
UTC_ZONE = "UTC"  # the zone recorded for minute and hour windows
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


class WindowKey(NamedTuple):
    """One window. `start_ms` is the first instant; `zone` is "UTC" for 1m / 1h windows and the
    billing time zone of a day window."""

    account_id: str
    api_key_id: str
    model: str
    granularity: Granularity
    start_ms: int
    zone: str


def to_ms(ts: datetime) -> int:
    """Milliseconds since the Unix epoch of an aware instant, floored (exact integers)."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"timestamp {ts!r} must be timezone-aware")
    return (ts - EPOCH) // _MS


def from_ms(ms: int, tz: str = UTC_ZONE) -> datetime:
    """The instant `ms` after the epoch, shown in zone `tz`."""
    instant = EPOCH + timedelta(milliseconds=ms)
    return instant if tz == UTC_ZONE else instant.astimezone(_zone(tz))


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=16_384)
def day_bounds_ms(tz: str, day: date) -> tuple[int, int]:
    """[start, end) in epoch ms of the local day `day` in zone `tz`."""
    return _first_instant_ms(tz, day), _first_instant_ms(tz, day + timedelta(days=1))


def _first_instant_ms(tz: str, day: date) -> int:
    """The first instant whose local date in `tz` is `day`: local midnight, or (when the clock
    skips midnight) the transition instant. `fold=0` gives exactly that: the first 00:00 of an
    ambiguous midnight, and for a skipped one the offset from before the change, which maps
    00:00 onto the instant the clock jumped."""
    local = datetime(day.year, day.month, day.day, tzinfo=_zone(tz))
    return to_ms(local.astimezone(UTC))


_DAY_MS = 86_400_000
_EPOCH_DAY = EPOCH.date().toordinal()


def day_of(tz: str, start_ms: int) -> date:
    """The local date in `tz` of the instant `start_ms` (a day window's day; the UTC date of a
    minute or hour window's start)."""
    if tz == UTC_ZONE:
        return date.fromordinal(_EPOCH_DAY + start_ms // _DAY_MS)
    return _local_day(tz, start_ms)


@lru_cache(maxsize=16_384)
def _local_day(tz: str, start_ms: int) -> date:
    return from_ms(start_ms, tz).date()


def minute_slot(ts_ms: int) -> int:
    return ts_ms - ts_ms % MINUTE_MS


def hour_slot(ts_ms: int) -> int:
    return ts_ms - ts_ms % HOUR_MS


def window_end_ms(key: WindowKey) -> int:
    if key.granularity == "1m":
        return key.start_ms + MINUTE_MS
    if key.granularity == "1h":
        return key.start_ms + HOUR_MS
    return day_bounds_ms(key.zone, day_of(key.zone, key.start_ms))[1]


def window_keys(
    account_id: str, api_key_id: str, model: str, ts_ms: int, billing_tz: str, billing_date: date
) -> tuple[WindowKey, WindowKey, WindowKey]:
    """The minute, hour and day window of one event."""
    day_start = day_bounds_ms(billing_tz, billing_date)[0]
    return (
        WindowKey(account_id, api_key_id, model, "1m", ts_ms - ts_ms % MINUTE_MS, UTC_ZONE),
        WindowKey(account_id, api_key_id, model, "1h", ts_ms - ts_ms % HOUR_MS, UTC_ZONE),
        WindowKey(account_id, api_key_id, model, "1d", day_start, billing_tz),
    )


def start_label(key: WindowKey) -> str:
    """The start as `window_id` hashes it (see the module docstring)."""
    if key.granularity == "1d":
        return f"{day_of(key.zone, key.start_ms).isoformat()} {key.zone}"
    return iso_utc(key.start_ms)


def window_id(key: WindowKey) -> str:
    raw = f"{_id_prefix(key.account_id, key.api_key_id, key.model, key.granularity)}{start_label(key)}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


@lru_cache(maxsize=65_536)
def _id_prefix(account_id: str, api_key_id: str, model: str, granularity: str) -> str:
    return f"{account_id}|{api_key_id}|{model}|{granularity}|"


@lru_cache(maxsize=65_536)
def iso_utc(ms: int) -> str:
    """`2026-11-28T10:05:00Z` (milliseconds only when there are some). Integer arithmetic and a
    cached date: one is written per window record."""
    days, in_day = divmod(ms, _DAY_MS)
    seconds, millis = divmod(in_day, 1000)
    hours, rest = divmod(seconds, 3600)
    text = f"{_iso_day(days)}T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


@lru_cache(maxsize=4096)
def _iso_day(days: int) -> str:
    return date.fromordinal(_EPOCH_DAY + days).isoformat()


def iso_in_zone(ms: int, tz: str) -> str:
    """The instant with the zone's offset at that instant, e.g. `2026-11-28T00:00:00+08:00`
    (a day window's bounds read as the local midnights they are)."""
    if tz == UTC_ZONE:
        return iso_utc(ms)
    local = from_ms(ms, tz)
    offset = local.utcoffset() or timedelta(0)
    if offset == timedelta(0):
        return iso_utc(ms)
    text = local.replace(tzinfo=timezone(offset)).isoformat(timespec="milliseconds" if ms % 1000 else "seconds")
    return text


def bounds_text(key: WindowKey, end_ms: int) -> tuple[str, str]:
    """`window_start`, `window_end` as a record carries them: UTC for 1m / 1h, the zone's local
    offset for a day window."""
    if key.granularity == "1d":
        return iso_in_zone(key.start_ms, key.zone), iso_in_zone(end_ms, key.zone)
    return iso_utc(key.start_ms), iso_utc(end_ms)
