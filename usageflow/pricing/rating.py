"""Rating one event (docs/pricing.md §2, §10, §11): the list cost of every token type at the
prices of the version in force at the event time, with region and off-peak multipliers,
unrounded."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from usageflow.errors import ValidationFailure
from usageflow.pricing.price_book import PriceBook, TokenPrices
from usageflow.schemas import Account, UsageEvent
from usageflow.schemas.columnar import AnyEvent

_THOUSAND = Decimal(1000)
_ONE = Decimal(1)


class RatedEvent(NamedTuple):
    """An event with its price: what the stream writes to the warehouse. A NamedTuple, not a
    frozen dataclass: one is built per event, and this is ~8x cheaper to build."""

    event: AnyEvent  # a UsageEvent, or its tuple from the columnar decoder (usageflow.schemas.columnar)
    input_per_1k: Decimal
    output_per_1k: Decimal
    region_multiplier: Decimal
    off_peak_multiplier: Decimal
    list_cost: Decimal
    billing_tz: str
    billing_month: str
    billing_date: date
    cached_input_per_1k: Decimal
    cache_write_per_1k: Decimal
    reasoning_per_1k: Decimal
    price_version: str  # the rating version's label (PriceBook.version_label)


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def billing_timezone(account: Account | None, book: PriceBook) -> str:
    return (account.timezone if account and account.timezone else None) or book.billing_timezone


def is_off_peak(local_time: datetime, book: PriceBook) -> bool:
    start, end = book.off_peak.start_hour, book.off_peak.end_hour
    return start <= local_time.hour < end


def token_cost(event: UsageEvent, prices: TokenPrices) -> Decimal:
    """The bracket of §10 before the multipliers: every token type at its price per 1,000."""
    return (
        event.uncached_input_tokens * prices.input
        + event.cached_input_tokens * prices.cached_input
        + event.cache_write_tokens * prices.cache_write
        + (event.output_tokens - event.reasoning_tokens) * prices.output
        + event.reasoning_tokens * prices.reasoning
    ) / _THOUSAND


class Prices(NamedTuple):
    tokens: TokenPrices
    region: Decimal
    off_peak: Decimal
    per_token: TokenPrices  # the price of one token of each type with both multipliers


_PRICE_CACHE: dict[tuple[int, str, str | None, bool], tuple[PriceBook, Prices]] = {}


def resolved_prices(book: PriceBook, model: str, region: str | None, off_peak: bool) -> Prices:
    """Memoised per price-book version (the entry keeps the version alive, so its id stays unique)."""
    key = (id(book), model, region, off_peak)
    hit = _PRICE_CACHE.get(key)
    if hit is not None and hit[0] is book:
        return hit[1]
    tokens = book.token_prices(model)
    region_mult = book.region_multiplier(region)
    off_peak_mult = book.off_peak.multiplier if off_peak else _ONE
    factor = region_mult * off_peak_mult / _THOUSAND
    value = Prices(tokens, region_mult, off_peak_mult, TokenPrices(*(p * factor for p in tokens)))
    if len(_PRICE_CACHE) > 10_000:
        _PRICE_CACHE.clear()
    _PRICE_CACHE[key] = (book, value)
    return value


def rate_event(event: AnyEvent, account: Account | None, book: PriceBook) -> RatedEvent:
    """Price one event with the version of `book` in force at its event time; raises
    ValidationFailure(unknown_model|unknown_region) if that version cannot price it."""
    return rate_in_zone(event, billing_timezone(account, book), book)


def rate_in_zone(event: AnyEvent, tz_name: str, book: PriceBook) -> RatedEvent:
    """`rate_event` with the billing time zone given (a re-rate keeps the zone an event was
    billed in, so it stays in its billing month)."""
    version = book.at(event.ts) if book.later_versions else book
    if event.model not in version.models:
        raise ValidationFailure("unknown_model", f"model {event.model!r} is not in the price book")
    if event.region and event.region not in version.regions:
        raise ValidationFailure("unknown_region", f"region {event.region!r} is not in the price book")
    try:
        local = event.ts.astimezone(zone(tz_name))
    except OverflowError:  # only outside the accepted event-time range, which decode checks
        raise ValidationFailure("ts_out_of_range", f"ts {event.ts.isoformat()} has no date in {tz_name}") from None
    prices = resolved_prices(version, event.model, event.region, is_off_peak(local, version))
    per = prices.per_token
    # Equal to token_cost(...) × region × off-peak exactly: every step is exact at these
    # magnitudes (a list cost has at most 12 decimals, checked by PriceBook, and a few integer
    # digits: far below the 28 digits of the default Decimal context); the per-token prices
    # are just computed once. Plain input tokens: input minus both cache parts.
    cost = (
        event.input_tokens - event.cached_input_tokens - event.cache_write_tokens
    ) * per.input + event.output_tokens * per.output
    if event.cached_input_tokens or event.cache_write_tokens or event.reasoning_tokens:
        cost += (
            event.cached_input_tokens * per.cached_input
            + event.cache_write_tokens * per.cache_write
            + event.reasoning_tokens * (per.reasoning - per.output)
        )
    tokens = prices.tokens
    return RatedEvent(
        event=event,
        input_per_1k=tokens.input,
        output_per_1k=tokens.output,
        region_multiplier=prices.region,
        off_peak_multiplier=prices.off_peak,
        list_cost=cost,
        billing_tz=tz_name,
        billing_month=f"{local.year:04d}-{local.month:02d}",
        billing_date=local.date(),
        cached_input_per_1k=tokens.cached_input,
        cache_write_per_1k=tokens.cache_write,
        reasoning_per_1k=tokens.reasoning,
        price_version=version.version_label,
    )
