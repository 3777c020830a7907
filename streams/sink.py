"""The warehouse sink: buffer, flush on count or time, and only then let offsets be committed.

Batches come from `streams.source` (up to `flush_max_rows`, or what arrived within
`flush_interval_s`); their offsets are committed only once `insert_until_stored` has returned
(`write` is the same two steps, `fresh` then `insert`, in one call). A failed call is retried
with back-off, holding the batch (and so the consumer) until the warehouse is back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import orjson
from usageflow.streams.rated_rows import rated_events_table

from usageflow.errors import WarehouseError
from usageflow.pricing.rating import RatedEvent
from usageflow.warehouse import Warehouse
from usageflow.warehouse.client import BoundText

log = logging.getLogger(__name__)

EX_TEMPFAIL = 75
T = TypeVar("T")


@dataclass
class FlushResult:
    fresh: list[int]  # indexes (into the written batch) of the events stored now
    already_stored: int
    seconds: float

    @property
    def inserted(self) -> int:
        return len(self.fresh)


class WarehouseSink:
    def __init__(self, warehouse: Warehouse, max_backoff_s: float = 30.0) -> None:
        self.warehouse = warehouse
        self.max_backoff_s = max_backoff_s
        self.last_flush_at: float | None = None
        self.failing_since: float | None = None

    def stored_ids(self, rated: Sequence[RatedEvent]) -> set[tuple[str, str]]:
        """Which (account_id, event_id) of the batch the warehouse already holds: the dedupe
        that makes an event count once across restarts, replays and days-apart duplicates."""
        # Each list travels as one JSON string parameter: binding 20,000 array elements one by
        # one cost twice the query itself (0.17-0.21 s vs 0.09-0.13 s per 20,000); BoundText
        # escapes the string in C instead of character by character.
        accounts = orjson.dumps(sorted({r.event.account_id for r in rated})).decode()
        ids = orjson.dumps(sorted({r.event.event_id for r in rated})).decode()
        rows = self.warehouse.query_rows(
            "SELECT DISTINCT account_id, event_id FROM rated_events "
            "WHERE account_id IN (SELECT arrayJoin(JSONExtract({accounts:String}, 'Array(String)'))) "
            "AND event_id IN (SELECT arrayJoin(JSONExtract({ids:String}, 'Array(String)')))",
            {"accounts": BoundText(accounts), "ids": BoundText(ids)},
        )[1]
        return {(a, e) for a, e in rows}

    def fresh(self, rated: Sequence[RatedEvent]) -> list[int]:
        """Indexes of the events of `rated` the warehouse does not hold yet."""
        if not rated:
            return []
        stored = self.stored_ids(rated)
        return [i for i, r in enumerate(rated) if (r.event.account_id, r.event.event_id) not in stored]

    def insert(self, rated: Sequence[RatedEvent], fresh: Sequence[int]) -> None:
        if fresh:
            self.warehouse.insert_arrow("rated_events", rated_events_table([rated[i] for i in fresh]))

    def write(self, rated: Sequence[RatedEvent]) -> FlushResult:
        started = time.perf_counter()
        fresh = self.fresh(rated)
        self.insert(rated, fresh)
        return FlushResult(fresh, len(rated) - len(fresh), time.perf_counter() - started)

    async def fresh_until_known(self, rated: Sequence[RatedEvent], stopping: Callable[[], bool]) -> list[int]:
        result: list[int] = await self.retry(lambda: self.fresh(rated), stopping)
        return result

    async def insert_until_stored(
        self, rated: Sequence[RatedEvent], fresh: Sequence[int], stopping: Callable[[], bool]
    ) -> None:
        await self.retry(lambda: self.insert(rated, fresh), stopping)
        self.last_flush_at = time.time()

    async def retry(self, work: Callable[[], T], stopping: Callable[[], bool]) -> T:
        """Run blocking warehouse work in a thread, retrying with exponential back-off. If the
        worker is told to stop while the warehouse is down, exit without committing: the batch
        is read again on restart."""
        loop = asyncio.get_running_loop()
        delay = 0.5
        while True:
            try:
                value = await loop.run_in_executor(None, work)
            except WarehouseError as exc:
                self.failing_since = self.failing_since or time.time()
                if stopping():
                    log.error("warehouse still failing at shutdown (%s): exiting uncommitted", exc)
                    os._exit(EX_TEMPFAIL)
                log.warning("warehouse call failed, retrying in %.1fs: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)
                continue
            self.failing_since = None
            return value
