"""Step 1 of a batch, columnar: decode and validate the whole batch at once, then rate it.

Decoding and validation are `usageflow.schemas.columnar.decode_batch` (column checks, with the
per-record validator for the records they do not accept). Rating follows `rate_in_zone`
(usageflow/pricing/rating.py) with what is constant taken once per batch: the billing time zone
once per account, the price entry once per (version, model, region, local hour) with every
price and multiplier already resolved, the price-version label once per version, the billing
month once per local date. What stays per event is the local time in the account's zone (an
exact zoneinfo conversion: DST), the same Decimal arithmetic as `rate_in_zone`, and one
`RatedEvent` tuple. An event the entry cannot price (unknown model or region) is rated by
`rate_event` itself, so its dead letter is today's. `process_batch_per_record` is the oracle.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from itertools import repeat
from operator import attrgetter
from typing import NamedTuple

from usageflow.errors import ValidationFailure
from usageflow.ingest.records import BatchOutcome, RawRecord, Rejected
from usageflow.pricing.price_book import PriceBook
from usageflow.pricing.rating import RatedEvent, billing_timezone, rate_event, resolved_prices, zone
from usageflow.schemas import Account
from usageflow.schemas.columnar import EventRecord, decode_batch
from usageflow.schemas.event_time import TimeWindow

_new = tuple.__new__
_account = attrgetter("account_id")
_event_id = attrgetter("event_id")
_ts = attrgetter("ts")
_value = attrgetter("value")


class _Entry(NamedTuple):
    """Everything of a rated event that only depends on (version, model, region, local hour):
    the price of one token of each type with both multipliers (`rate_in_zone`'s `per`), and
    the RatedEvent fields before and after `list_cost` ... `billing_date`."""

    per_input: Decimal
    per_output: Decimal
    per_cached_input: Decimal
    per_cache_write: Decimal
    per_reasoning_over_output: Decimal
    head: tuple[Decimal, Decimal, Decimal, Decimal]  # input_per_1k .. off_peak_multiplier
    tail: tuple[Decimal, Decimal, Decimal, str]  # cached_input_per_1k .. price_version


def process_columnar(
    records: Sequence[RawRecord],
    lookup_account: Callable[[str], Account | None],
    book: PriceBook,
    window: TimeWindow,
) -> BatchOutcome:
    """`process_batch` (usageflow.ingest.batch) for a batch at once; the outcome equals the
    per-record path's: same rated events in the same order, same dead letters, same count of
    duplicates."""
    decoded = decode_batch(list(map(_value, records)), window).results
    events = [result for result in decoded if type(result) is EventRecord]
    ratings, failures = _rate(events, lookup_account, book)
    outcome = BatchOutcome()
    if len(events) == len(records) and not failures and _distinct(events):
        outcome.rated = ratings  # type: ignore[assignment]  # no failure among them
        outcome.sources = list(records)
    else:
        _assemble(outcome, records, decoded, ratings)
    return outcome


def _distinct(events: list[EventRecord]) -> bool:
    """No (account_id, event_id) twice (distinct event ids settle it without building pairs)."""
    if len(set(map(_event_id, events))) == len(events):
        return True
    return len(set(zip(map(_account, events), map(_event_id, events), strict=True))) == len(events)


def _assemble(
    outcome: BatchOutcome,
    records: Sequence[RawRecord],
    decoded: list[EventRecord | ValidationFailure],
    ratings: list[RatedEvent | ValidationFailure],
) -> None:
    """Record by record, in the per-record path's order of decisions: a record that does not
    decode is rejected; an identity already rated in this batch is a duplicate (even if this
    copy could not be rated); then the rating's own failure."""
    rated = iter(ratings)
    seen: set[tuple[str, str]] = set()
    for record, result in zip(records, decoded, strict=True):
        if type(result) is not EventRecord:
            assert isinstance(result, ValidationFailure)
            outcome.rejected.append(Rejected(record, result.reason, result.message))
            continue
        rating = next(rated)
        identity = (result.account_id, result.event_id)
        if identity in seen:
            outcome.duplicates_in_batch += 1
            continue
        if isinstance(rating, ValidationFailure):
            outcome.rejected.append(Rejected(record, rating.reason, rating.message))
            continue
        seen.add(identity)
        outcome.rated.append(rating)
        outcome.sources.append(record)


def _rate(
    events: list[EventRecord], lookup_account: Callable[[str], Account | None], book: PriceBook
) -> tuple[list[RatedEvent | ValidationFailure], int]:
    """Each event rated as `rate_event` rates it, or the ValidationFailure it raises; and how
    many failed."""
    if not events:
        return [], 0
    accounts = {a: lookup_account(a) for a in set(map(_account, events))}
    tz_names = {a: billing_timezone(account, book) for a, account in accounts.items()}
    zones = {a: zone(name) for a, name in tz_names.items()}
    times = list(map(_ts, events))
    try:
        local_times = list(map(datetime.astimezone, times, map(zones.__getitem__, map(_account, events))))
    except OverflowError:  # only outside the accepted event-time range: `rate_event` says so
        alone = [_rate_alone(e, accounts, book) for e in events]
        return alone, sum(isinstance(r, ValidationFailure) for r in alone)
    versions = book.versions
    if len(versions) == 1:
        version_of: Iterable[int] = repeat(0)
    else:
        starts = [v.effective_from for v in book.later_versions]
        version_of = [bisect_right(starts, t) for t in times]  # book.at(t), as an index into versions
    labels = [v.version_label for v in versions]
    entries: dict[tuple[int, str, str | None, int], _Entry | None] = {}
    months: dict[date, str] = {}
    out: list[RatedEvent | ValidationFailure] = []
    append = out.append
    failures = 0
    for e, local, v in zip(events, local_times, version_of):  # noqa: B905  # version_of may repeat
        (_, _, account, _, model, region, input_tokens, output_tokens, _, _, _, _, cached, written, reasoning, _, _) = e
        hour = local.hour
        key = (v, model, region, hour)
        try:
            entry = entries[key]
        except KeyError:
            entry = entries[key] = _entry(versions[v], labels[v], model, region, hour)
        if entry is None:
            rated = _rate_alone(e, accounts, book)
            failures += isinstance(rated, ValidationFailure)
            append(rated)
            continue
        # rate_in_zone's arithmetic, term by term (the same Decimal operations in the same order)
        cost = (input_tokens - cached - written) * entry.per_input + output_tokens * entry.per_output
        if cached or written or reasoning:
            cost += (
                cached * entry.per_cached_input
                + written * entry.per_cache_write
                + reasoning * entry.per_reasoning_over_output
            )
        day = local.date()
        month = months.get(day)
        if month is None:
            month = months[day] = f"{day.year:04d}-{day.month:02d}"
        append(_new(RatedEvent, (e, *entry.head, cost, tz_names[account], month, day, *entry.tail)))
    return out, failures


def _entry(version: PriceBook, label: str, model: str, region: str | None, hour: int) -> _Entry | None:
    """None when `version` cannot price the event: `rate_event` then names the reason."""
    if model not in version.models or (region and region not in version.regions):
        return None
    off_peak = version.off_peak.start_hour <= hour < version.off_peak.end_hour  # is_off_peak, by the hour
    prices = resolved_prices(version, model, region, off_peak)
    per, tokens = prices.per_token, prices.tokens
    return _Entry(
        per.input,
        per.output,
        per.cached_input,
        per.cache_write,
        per.reasoning - per.output,
        (tokens.input, tokens.output, prices.region, prices.off_peak),
        (tokens.cached_input, tokens.cache_write, tokens.reasoning, label),
    )


def _rate_alone(
    event: EventRecord, accounts: dict[str, Account | None], book: PriceBook
) -> RatedEvent | ValidationFailure:
    try:
        return rate_event(event, accounts[event.account_id], book)
    except ValidationFailure as exc:
        return exc
