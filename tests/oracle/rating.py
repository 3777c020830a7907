"""The tests' rating oracle: the list cost of one event under a versioned price book
(docs/pricing.md §2, §10, §11) and the version that bills a month, in exact rationals.

Written apart from usageflow.pricing: it reads the price book's data (its versions, prices,
multipliers) but none of its methods that choose a version or resolve a default price, and does
its own arithmetic.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from usageflow.pricing.price_book import PriceBook
from usageflow.schemas import Account, UsageEvent


def versions(book: PriceBook) -> list[PriceBook]:
    return [book, *book.later_versions]


def in_force(book: PriceBook, instant: datetime) -> PriceBook:
    """The version with the latest effective_from at or before `instant` (the first before any)."""
    chosen = book
    for version in versions(book)[1:]:
        assert version.effective_from is not None
        if version.effective_from <= instant:
            chosen = version
    return chosen


def billing_zone(book: PriceBook, account: Account | None) -> str:
    return account.timezone if account is not None and account.timezone else book.billing_timezone


def month_version(book: PriceBook, month: str, zone: str) -> PriceBook:
    """The version in force at the first instant of `month` in `zone`: the earliest instant whose
    local date is the 1st, found by walking the hours of the day before (robust to a DST change
    at midnight, however zoneinfo reads a skipped or repeated local time)."""
    year, number = int(month[:4]), int(month[5:7])
    tz = ZoneInfo(zone)
    first = datetime(year, number, 1, tzinfo=tz).astimezone(ZoneInfo("UTC"))
    probe = first - timedelta(hours=3)
    while probe.astimezone(tz).day != 1:
        probe += timedelta(minutes=15)
    return in_force(book, probe)


def _price(value: Decimal | None, fallback: Fraction) -> Fraction:
    return fallback if value is None else Fraction(value)


def list_cost(event: UsageEvent, book: PriceBook, account: Account | None) -> Fraction:
    version = in_force(book, event.ts)
    entry = version.models[event.model]
    base = Fraction(version.base_per_1k) * Fraction(entry.multiplier)
    input_price = _price(entry.input_per_1k, base)
    output_price = _price(entry.output_per_1k, base)
    cached_price = _price(entry.cached_input_per_1k, input_price)
    write_price = _price(entry.cache_write_per_1k, input_price)
    reasoning_price = _price(entry.reasoning_per_1k, output_price)
    plain_input = event.input_tokens - event.cached_input_tokens - event.cache_write_tokens
    plain_output = event.output_tokens - event.reasoning_tokens
    bracket = (
        plain_input * input_price
        + event.cached_input_tokens * cached_price
        + event.cache_write_tokens * write_price
        + plain_output * output_price
        + event.reasoning_tokens * reasoning_price
    ) / 1000
    region = Fraction(version.regions[event.region]) if event.region else Fraction(version.default_region_multiplier)
    local_hour = event.ts.astimezone(ZoneInfo(billing_zone(book, account))).hour
    off_peak = version.off_peak.start_hour <= local_hour < version.off_peak.end_hour
    return bracket * region * (Fraction(version.off_peak.multiplier) if off_peak else 1)
