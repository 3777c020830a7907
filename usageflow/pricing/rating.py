"""Rating one event (docs/pricing.md §2): list cost with region and off-peak multipliers, unrounded."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from usageflow.errors import ValidationFailure
from usageflow.pricing.price_book import PriceBook
from usageflow.schemas import Account, UsageEvent

_THOUSAND = Decimal(1000)
_ONE = Decimal(1)


class RatedEvent(NamedTuple):
    """An event with its price: what the stream writes to the warehouse. A NamedTuple, not a
    frozen dataclass: one is built per event, and this is ~8x cheaper to build."""

    event: UsageEvent
    input_per_1k: Decimal
    output_per_1k: Decimal
    region_multiplier: Decimal
    off_peak_multiplier: Decimal
    list_cost: Decimal
    billing_tz: str
    billing_month: str
    billing_date: date


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def billing_timezone(account: Account | None, book: PriceBook) -> str:
    return (account.timezone if account and account.timezone else None) or book.billing_timezone


def is_off_peak(local_time: datetime, book: PriceBook) -> bool:
    start, end = book.off_peak.start_hour, book.off_peak.end_hour
    return start <= local_time.hour < end


def list_cost(
    input_tokens: int,
    output_tokens: int,
    input_per_1k: Decimal,
    output_per_1k: Decimal,
    region_multiplier: Decimal,
    off_peak_multiplier: Decimal,
) -> Decimal:
    """The formula of §2, exactly (Decimal context precision is ample for these magnitudes)."""
    base = input_tokens * input_per_1k / _THOUSAND + output_tokens * output_per_1k / _THOUSAND
    return base * region_multiplier * off_peak_multiplier


_PriceTuple = tuple[Decimal, Decimal, Decimal, Decimal, Decimal, Decimal]
_PRICE_CACHE: dict[tuple[int, str, str | None, bool], tuple[PriceBook, _PriceTuple]] = {}


def _prices(book: PriceBook, model: str, region: str | None, off_peak: bool) -> _PriceTuple:
    """(input_per_1k, output_per_1k, region, off-peak, per input token, per output token),
    memoised per price book (the entry keeps the book alive, so its id stays unique)."""
    key = (id(book), model, region, off_peak)
    hit = _PRICE_CACHE.get(key)
    if hit is not None and hit[0] is book:
        return hit[1]
    in_price, out_price = book.input_per_1k(model), book.output_per_1k(model)
    region_mult = book.region_multiplier(region)
    off_peak_mult = book.off_peak.multiplier if off_peak else _ONE
    factor = region_mult * off_peak_mult / _THOUSAND
    value = (in_price, out_price, region_mult, off_peak_mult, in_price * factor, out_price * factor)
    if len(_PRICE_CACHE) > 10_000:
        _PRICE_CACHE.clear()
    _PRICE_CACHE[key] = (book, value)
    return value


def rate_event(event: UsageEvent, account: Account | None, book: PriceBook) -> RatedEvent:
    """Price one event; raises ValidationFailure(unknown_model|unknown_region) if unpriceable."""
    if event.model not in book.models:
        raise ValidationFailure("unknown_model", f"model {event.model!r} is not in the price book")
    if event.region and event.region not in book.regions:
        raise ValidationFailure("unknown_region", f"region {event.region!r} is not in the price book")
    tz_name = billing_timezone(account, book)
    try:
        local = event.ts.astimezone(zone(tz_name))
    except OverflowError:  # only outside the accepted event-time range, which decode checks
        raise ValidationFailure("ts_out_of_range", f"ts {event.ts.isoformat()} has no date in {tz_name}") from None
    prices = _prices(book, event.model, event.region, is_off_peak(local, book))
    in_price, out_price, region_mult, off_peak_mult, per_in_token, per_out_token = prices
    # Equal to list_cost(...) exactly: every step is exact at these magnitudes (a list cost has
    # at most 12 decimals, checked by PriceBook, and a few integer digits: far below the 28
    # digits of the default Decimal context); the per-token prices are just computed once.
    cost = event.input_tokens * per_in_token + event.output_tokens * per_out_token
    return RatedEvent(
        event=event,
        input_per_1k=in_price,
        output_per_1k=out_price,
        region_multiplier=region_mult,
        off_peak_multiplier=off_peak_mult,
        list_cost=cost,
        billing_tz=tz_name,
        billing_month=f"{local.year:04d}-{local.month:02d}",
        billing_date=local.date(),
    )
