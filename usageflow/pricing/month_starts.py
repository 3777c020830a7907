"""Month boundaries in a billing time zone, for choosing the price version that bills a month
(docs/pricing.md §11: the version in force at the month's first instant)."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

BEFORE_EVERY_MONTH = "0000-00"  # sorts before every 'YYYY-MM'


def month_start(month: str, timezone: str) -> datetime:
    """The first instant of `month` ('YYYY-MM') in `timezone`. zoneinfo reads a midnight that a
    DST gap skips with the offset before the gap, which is the instant the day begins."""
    return datetime(int(month[:4]), int(month[5:7]), 1, tzinfo=ZoneInfo(timezone))


def first_month_billed(effective_from: datetime, timezone: str) -> str:
    """The first month whose first instant in `timezone` is at or after `effective_from`: the
    first month a version in force from then bills."""
    local = effective_from.astimezone(ZoneInfo(timezone))
    month = f"{local.year:04d}-{local.month:02d}"
    if month_start(month, timezone) >= effective_from:
        return month
    if local.month == 12:
        return f"{local.year + 1:04d}-01"
    return f"{local.year:04d}-{local.month + 1:02d}"


@lru_cache(maxsize=1)
def billing_zones() -> tuple[str, ...]:
    """Every IANA zone this machine knows (an account's zone must be one of them), plus UTC."""
    return tuple(sorted(available_timezones() | {"UTC"}))
