"""One batch of raw records -> rated events and dead letters (no Kafka, no warehouse here)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from usageflow.errors import ValidationFailure
from usageflow.pricing.price_book import PriceBook
from usageflow.pricing.rating import RatedEvent, rate_event
from usageflow.schemas import Account, UsageEvent
from usageflow.schemas.decode import decode_event
from usageflow.schemas.event_time import EventTimeRange, default_event_time_range


class RawRecord(NamedTuple):
    """One Kafka record as read (a NamedTuple: one is built per record)."""

    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int


def next_offsets(records: Sequence[RawRecord]) -> dict[int, int]:
    """Per partition, the offset after the last record: what a commit of `records` stores."""
    offsets: dict[int, int] = {}
    for r in records:
        if r.offset + 1 > offsets.get(r.partition, 0):
            offsets[r.partition] = r.offset + 1
    return offsets


@dataclass(frozen=True, slots=True)
class Rejected:
    record: RawRecord
    reason: str
    message: str


@dataclass
class BatchOutcome:
    rated: list[RatedEvent] = field(default_factory=list)
    sources: list[RawRecord] = field(default_factory=list)  # the record each rated event came from
    rejected: list[Rejected] = field(default_factory=list)
    duplicates_in_batch: int = 0


def process_batch(
    records: Sequence[RawRecord],
    lookup_account: Callable[[str], Account | None],
    book: PriceBook,
    event_times: EventTimeRange | None = None,
) -> BatchOutcome:
    """Validate, dedupe within the batch by (account_id, event_id), and rate. Every record is
    either rated or rejected with a reason; nothing raises. `event_times`: the accepted
    event-time range (default: the configured one), taken once for the whole batch."""
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
