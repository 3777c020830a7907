"""What the agent does with one batch: dead letters, the live side (alerts), then storage.

Order matters for exactly-once: the live state is restored from the warehouse (all accounts
in one go, after each partition assignment) and each account seeded *before* a batch of it is
stored (so the seed never includes the batch); only events the warehouse does not hold yet
(`fresh`) reach the alert rules; the alerts are acknowledged by Kafka *before* the events are
stored, and recorded in the warehouse after. The batch's offsets are committed by the reader
(streams/reader.py) after `handle` returns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from usageflow.streams.live_store import alert_bytes, seed_accounts, store_alerts
from usageflow.streams.metrics import WorkerMetrics
from usageflow.streams.sink import FlushResult, WarehouseSink

from usageflow.alerting.engine import LiveEngine
from usageflow.bus.accounts import AccountDirectory
from usageflow.bus.dead_letters import dead_letter_headers, dead_letter_value
from usageflow.ingest.batch import RawRecord, next_offsets, process_batch
from usageflow.pricing.price_book import PriceBook
from usageflow.warehouse import Warehouse

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """What the worker has done, for `replay`, `up` and the HTTP endpoints."""

    consumed: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    late: int = 0
    alerts: int = 0
    flushes: int = 0
    last_flush_s: float = 0.0
    last_flush_at: str | None = None
    next_offsets: dict[int, int] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        return {
            "consumed": self.consumed,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "dead_lettered": self.dead_lettered,
            "late": self.late,
            "alerts": self.alerts,
            "flushes": self.flushes,
            "last_flush_s": round(self.last_flush_s, 4),
            "last_flush_at": self.last_flush_at,
        }


class BatchHandler:
    def __init__(
        self,
        warehouse: Warehouse,
        accounts: AccountDirectory,
        book: PriceBook,
        engine: LiveEngine,
        send_dead_letter: Callable[[bytes | None, bytes, list[tuple[str, bytes]]], Any],
        send_alert: Callable[[bytes, bytes], Any],
        stopping: Callable[[], bool],
    ) -> None:
        self.warehouse = warehouse
        self.accounts = accounts
        self.book = book
        self.engine = engine
        self.sink = WarehouseSink(warehouse)
        self.send_dead_letter = send_dead_letter
        self.send_alert = send_alert
        self.stopping = stopping
        self.progress = Progress()
        self.metrics = WorkerMetrics()
        self.recent_alerts: deque[dict[str, Any]] = deque(maxlen=20)

    async def handle(self, records: list[RawRecord]) -> None:
        outcome = process_batch(records, self.accounts.get, self.book)
        for rejected in outcome.rejected:
            r = rejected.record
            value = dead_letter_value(rejected.reason, rejected.message, r.value, r.topic, r.partition, r.offset, r.key)
            await self.send_dead_letter(r.key, value, dead_letter_headers(rejected.reason))
        if not self.engine.restored:
            self.engine.restore(await self._until_ok(lambda: seed_accounts(self.warehouse)))
        now = datetime.now(UTC)
        caught_up = self.engine.activate({r.event.account_id for r in outcome.rated}, self.accounts.get, now)
        started = time.perf_counter()
        fresh_idx = await self.sink.fresh_until_known(outcome.rated, self.stopping)
        fresh = [(outcome.partitions[i], outcome.rated[i]) for i in fresh_idx]
        live = self.engine.process(fresh, self.accounts.get, now)
        live.alerts[:0] = caught_up
        # Alerts go out before the events are stored: a crash after the insert can then never
        # leave stored events whose alerts nobody sent (a restart re-reads the batch, finds it
        # stored, and its events no longer reach the rules). A crash before the insert re-reads
        # the events as fresh; their alerts are already on the topic and are not repeated.
        deliveries = [await self.send_alert(a.account_id.encode(), alert_bytes(a)) for a in live.alerts]
        if deliveries:  # all acknowledged by Kafka before they count as fired
            await asyncio.gather(*deliveries)
        await self.sink.insert_until_stored(outcome.rated, fresh_idx, self.stopping)
        result = FlushResult(fresh_idx, len(outcome.rated) - len(fresh_idx), time.perf_counter() - started)
        if live.alerts:
            await self._until_ok(lambda: store_alerts(self.warehouse, live.alerts))
        p = self.progress
        p.duplicates += result.already_stored + outcome.duplicates_in_batch
        p.dead_lettered += len(outcome.rejected)
        p.late += live.late
        p.alerts += len(live.alerts)
        self._count(records, result)
        m = self.metrics
        m.duplicates.inc(result.already_stored + outcome.duplicates_in_batch)
        m.late.inc(live.late)
        for rejected in outcome.rejected:
            m.dead_letters.labels(rejected.reason).inc()
        log.info(
            "batch stored",
            extra={
                "records": len(records),
                "stored": result.inserted,
                "duplicates": result.already_stored + outcome.duplicates_in_batch,
                "dead_lettered": len(outcome.rejected),
                "alerts": len(live.alerts),
                "flush_s": round(result.seconds, 4),
            },
        )
        for alert in live.alerts:
            m.alerts.labels(alert.type).inc()
            self.recent_alerts.appendleft(alert.model_dump(mode="json"))

    async def _until_ok(self, work: Callable[[], Any]) -> Any:
        """Warehouse reads/writes of the live side share the sink's retry policy."""
        return await self.sink.retry(work, self.stopping)

    def _count(self, records: list[RawRecord], result: FlushResult) -> None:
        p = self.progress
        p.consumed += len(records)
        p.stored += result.inserted
        p.flushes += 1
        p.last_flush_s = result.seconds
        p.last_flush_at = datetime.now(UTC).isoformat(timespec="seconds")
        m = self.metrics
        m.consumed.inc(len(records))
        m.stored.inc(result.inserted)
        m.flush_seconds.observe(result.seconds)
        m.batch_size.observe(len(records))
        m.last_flush.set_to_current_time()
        for partition, offset in next_offsets(records).items():
            p.next_offsets[partition] = max(offset, p.next_offsets.get(partition, 0))
