"""One batch of raw records -> rated events and dead letters (no Kafka, no warehouse here).

`process_batch` is the columnar implementation (usageflow.ingest.columnar); the per-record one,
`process_batch_per_record`, is kept as its oracle: the tests hold the two equal."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from usageflow.errors import ValidationFailure
from usageflow.ingest.columnar import process_columnar
from usageflow.ingest.records import BatchOutcome, RawRecord, Rejected, next_offsets
from usageflow.pricing.price_book import PriceBook
from usageflow.pricing.rating import rate_event
from usageflow.schemas import Account, UsageEvent
from usageflow.schemas.decode import decode_event
from usageflow.schemas.event_time import EventTimeRange, default_event_time_range

__all__ = ["BatchOutcome", "RawRecord", "Rejected", "next_offsets", "process_batch", "process_batch_per_record"]


def process_batch(
    records: Sequence[RawRecord],
    lookup_account: Callable[[str], Account | None],
    book: PriceBook,
    event_times: EventTimeRange | None = None,
) -> BatchOutcome:
    """Validate, dedupe within the batch by (account_id, event_id), and rate. Every record is
    either rated or rejected with a reason; nothing raises. `event_times`: the accepted
    event-time range (default: the configured one), taken once for the whole batch."""
    return process_columnar(records, lookup_account, book, (event_times or default_event_time_range()).window())


def process_batch_per_record(
    records: Sequence[RawRecord],
    lookup_account: Callable[[str], Account | None],
    book: PriceBook,
    event_times: EventTimeRange | None = None,
) -> BatchOutcome:
    """`process_batch` one record at a time through the pydantic model and `rate_event`: the
    reference the columnar implementation is tested against."""
    window = (event_times or default_event_time_range()).window()
    outcome = BatchOutcome()
    seen: set[tuple[str, str]] = set()
    for record in records:
        try:
            event: UsageEvent = decode_event(record.value, window)
            identity = (event.account_id, event.event_id)
            if identity in seen:
                outcome.duplicates_in_batch += 1
                continue
            rated = rate_event(event, lookup_account(event.account_id), book)
        except ValidationFailure as exc:
            outcome.rejected.append(Rejected(record, exc.reason, exc.message))
            continue
        seen.add(identity)
        outcome.rated.append(rated)
        outcome.sources.append(record)
    return outcome
