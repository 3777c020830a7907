"""The Faust application: topics, the rating agent, housekeeping timers.

Agents only move data: validation, rating and dedupe live in `usageflow.ingest` and
`usageflow.pricing`; storage in `streams.sink`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

import faust

from streams.sink import WarehouseSink
from usageflow.bus.accounts import AccountDirectory
from usageflow.bus.dead_letters import dead_letter_headers, dead_letter_value
from usageflow.config import KafkaSettings, PathSettings, StreamSettings, TopicSettings
from usageflow.errors import UsageflowError
from usageflow.ingest.batch import RawRecord, process_batch
from usageflow.pricing.price_book import PriceBook
from usageflow.warehouse import Warehouse

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """What the worker has stored, for `replay`, `up` and the status endpoint."""

    consumed: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    flushes: int = 0
    last_flush_s: float = 0.0
    next_offsets: dict[int, int] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        return {
            "consumed": self.consumed,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "dead_lettered": self.dead_lettered,
            "flushes": self.flushes,
            "last_flush_s": round(self.last_flush_s, 4),
        }


@dataclass
class WorkerParts:
    kafka: KafkaSettings
    topics: TopicSettings
    stream: StreamSettings
    paths: PathSettings
    book: PriceBook
    warehouse: Warehouse
    accounts: AccountDirectory
    stop_at_offsets: dict[int, int] | None = None


def faust_broker_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Kafka security settings passed through to Faust's aiokafka driver."""
    options: dict[str, Any] = {"broker": f"kafka://{kafka.bootstrap}"}
    protocol = kafka.security_protocol.upper()
    if protocol == "PLAINTEXT":
        return options
    ssl_context = None
    if protocol in ("SSL", "SASL_SSL"):
        import ssl

        ssl_context = ssl.create_default_context(cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None)
        if kafka.ssl_certfile:
            ssl_context.load_cert_chain(str(kafka.ssl_certfile), str(kafka.ssl_keyfile) if kafka.ssl_keyfile else None)
    if protocol.startswith("SASL"):
        password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else ""
        options["broker_credentials"] = faust.SASLCredentials(
            username=kafka.sasl_username or "",
            password=password,
            mechanism=kafka.sasl_mechanism or "PLAIN",
            ssl_context=ssl_context,
        )
    elif ssl_context is not None:
        options["broker_credentials"] = faust.SSLCredentials(ssl_context)
    return options


def create_app(parts: WorkerParts) -> tuple[faust.App, Progress]:
    stream = parts.stream
    app = faust.App(
        parts.topics.group,
        **faust_broker_options(parts.kafka),
        store="memory://",
        datadir=str(parts.paths.data_dir / "faust"),
        topic_partitions=parts.topics.partitions,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        stream_buffer_maxsize=max(4096, stream.flush_max_rows * 2),
        broker_max_poll_records=max(500, stream.flush_max_rows),
        web_enabled=True,
        web_bind=stream.http_host,
        web_host=stream.http_host,
        web_port=stream.http_port,
        producer_acks=-1,
    )
    events_topic = app.topic(parts.topics.events, key_serializer="raw", value_serializer="raw")
    dlq_topic = app.topic(parts.topics.dlq, key_serializer="raw", value_serializer="raw")
    sink = WarehouseSink(parts.warehouse)
    progress = Progress()
    stopping = {"flag": False}

    @app.agent(events_topic, name="rate-events")
    async def rate_events(events: faust.StreamT[bytes]) -> None:
        async for batch in events.take_events(stream.flush_max_rows, within=stream.flush_interval_s):
            records = [
                RawRecord(
                    e.message.key,
                    e.message.value,
                    e.message.topic,
                    e.message.partition,
                    e.message.offset,
                )
                for e in batch
            ]
            outcome = process_batch(records, parts.accounts.get, parts.book)
            for rejected in outcome.rejected:
                r = rejected.record
                await dlq_topic.send(
                    key=r.key,
                    value=dead_letter_value(
                        rejected.reason,
                        rejected.message,
                        r.value,
                        r.topic,
                        r.partition,
                        r.offset,
                        r.key,
                    ),
                    headers=dead_letter_headers(rejected.reason),
                )
            result = await sink.write_until_stored(outcome.rated, lambda: stopping["flag"])
            progress.consumed += len(records)
            progress.stored += result.inserted
            progress.duplicates += result.already_stored + outcome.duplicates_in_batch
            progress.dead_lettered += len(outcome.rejected)
            progress.flushes += 1
            progress.last_flush_s = result.seconds
            for r in records:
                if r.offset + 1 > progress.next_offsets.get(r.partition, 0):
                    progress.next_offsets[r.partition] = r.offset + 1

    @app.timer(0.5)
    async def housekeeping() -> None:
        await _sync_accounts(parts)
        if parts.stop_at_offsets is not None and _reached(progress, parts.stop_at_offsets):
            log.info("replay complete: %s", progress.snapshot())
            stopping["flag"] = True
            os.kill(os.getpid(), signal.SIGTERM)

    @app.page("/progress")
    async def progress_page(web: Any, request: Any) -> Any:
        return web.json(progress.snapshot())

    @app.page("/health")
    async def health_page(web: Any, request: Any) -> Any:
        failing = sink.failing_since
        status = 503 if failing and time.time() - failing > 30 else 200
        body = {"status": "ok" if status == 200 else "warehouse_unavailable", **progress.snapshot()}
        return web.json(body, status=status)

    @app.page("/api/{name}")
    async def api_page(web: Any, request: Any, name: str) -> Any:
        from usageflow.query_api import QUERIES

        query = QUERIES.get(name)
        if query is None:
            return web.json({"error": f"no query named {name!r}"}, status=404)
        params = {k: v for k, v in request.query.items()}
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(None, lambda: query(parts.warehouse, **params))
        except (UsageflowError, TypeError, ValueError, ArithmeticError) as exc:
            return web.json({"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}, status=400)
        return web.json(result)

    app.usageflow_sink = sink  # type: ignore[attr-defined]
    app.usageflow_stopping = stopping  # type: ignore[attr-defined]
    _ = (rate_events, housekeeping, progress_page, health_page, api_page)
    return app, progress


async def _sync_accounts(parts: WorkerParts) -> None:
    upserts, deleted = parts.accounts.drain_changes()
    if not upserts and not deleted:
        return
    from usageflow.billing.tables import upsert_accounts

    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, upsert_accounts, parts.warehouse, upserts, deleted)


def _reached(progress: Progress, target: dict[int, int]) -> bool:
    return all(progress.next_offsets.get(p, 0) >= end for p, end in target.items() if end > 0)
