"""What step 1 of a batch takes and gives: raw records in, rated events and dead letters out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from usageflow.pricing.rating import RatedEvent


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
