"""The Faust application: topics, the rating agent, housekeeping, HTTP endpoints.

Agents only move data: validation, rating and dedupe live in `usageflow.ingest` and
`usageflow.pricing`, windows and alert rules in `usageflow.alerting`, storage in
`streams.sink`; `streams.handler` sequences one batch.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import ssl
from dataclasses import dataclass
from typing import Any

import faust
from usageflow.streams.handler import BatchHandler
from usageflow.streams.http import register_pages
from usageflow.streams.lag import LagProbe
from usageflow.streams.live_store import published_alerts, record_published
from usageflow.streams.monitor import BatchMonitor
from usageflow.streams.reader import EventBatch, EventReader
from usageflow.streams.source import BatchSource

from usageflow.alerting.engine import LiveEngine
from usageflow.alerting.rules import AlertKey, alert_key
from usageflow.bus.accounts import AccountDirectory
from usageflow.config import KafkaSettings, PathSettings, StreamSettings, TopicSettings
from usageflow.pricing.price_book import PriceBook
from usageflow.warehouse import Warehouse

log = logging.getLogger(__name__)


@dataclass
class WorkerParts:
    kafka: KafkaSettings
    topics: TopicSettings
    stream: StreamSettings
    paths: PathSettings
    book: PriceBook
    warehouse: Warehouse
    accounts: AccountDirectory
    engine: LiveEngine
    stop_at_offsets: dict[int, int] | None = None


def faust_broker_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Kafka security settings passed through to Faust's aiokafka driver."""
    options: dict[str, Any] = {"broker": f"kafka://{kafka.bootstrap}"}
    protocol = kafka.security_protocol.upper()
    if protocol == "PLAINTEXT":
        return options
    ssl_context = None
    if protocol in ("SSL", "SASL_SSL"):
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


def create_app(parts: WorkerParts) -> tuple[faust.App, BatchHandler]:
    stream = parts.stream
    # The events come in batches from streams.source, whose consumer is the `group` member.
    # Faust's own consumer only follows its leader topic, under an id of its own (one group
    # cannot mix Faust's assignor with librdkafka's).
    app = faust.App(
        f"{parts.topics.group}.app",
        **faust_broker_options(parts.kafka),
        store="memory://",
        datadir=str(parts.paths.data_dir / "faust"),
        topic_partitions=parts.topics.partitions,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        # Faust's consumer (leader topic only) must not make a restarted worker wait for the
        # session of a SIGKILLed one to expire (60 s by default) before the app is ready.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        web_enabled=True,
        web_bind=stream.http_host,
        web_host=stream.http_host,
        web_port=stream.http_port,
        producer_acks=-1,
    )
    app.monitor = BatchMonitor()
    dlq_topic = app.topic(parts.topics.dlq, key_serializer="raw", value_serializer="raw")
    alerts_topic = app.topic(parts.topics.alerts, key_serializer="raw", value_serializer="raw")
    stopping = {"flag": False}

    async def send_dead_letter(key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> Any:
        return await dlq_topic.send(key=key, value=value, headers=headers)

    async def send_alert(key: bytes, value: bytes) -> Any:
        return await alerts_topic.send(key=key, value=value)

    handler = BatchHandler(
        parts.warehouse,
        parts.accounts,
        parts.book,
        parts.engine,
        send_dead_letter,
        send_alert,
        lambda: stopping["flag"],
    )

    source = BatchSource(
        parts.kafka, parts.topics.events, parts.topics.group, stream.flush_max_rows, stream.flush_interval_s
    )
    batches = app.channel()

    @app.agent(batches, name="rate-events")
    async def rate_events(stream: faust.StreamT[EventBatch]) -> None:
        """One message per batch read from the events topic (see streams.source)."""
        async for batch in stream:
            try:
                await handler.handle(batch.records)
            except BaseException as exc:
                if not batch.done.done():
                    batch.done.set_exception(exc)
                raise
            batch.done.set_result(None)

    def sync_published() -> list[AlertKey]:
        """The alerts topic's keys; alerts on it that the warehouse misses are stored."""
        alerts = published_alerts(parts.kafka, parts.topics.alerts)
        missing = record_published(parts.warehouse, alerts)
        if missing:
            log.warning("%d published alert(s) were missing from the warehouse alerts table: stored", missing)
        return [alert_key(a) for a in alerts]

    reader = EventReader(source, batches, parts.engine, sync_published)
    app.task(reader.run)
    app.on_before_shutdown.connect(reader.on_shutdown)  # type: ignore[arg-type]  # async receiver

    @app.timer(0.5)
    async def housekeeping() -> None:
        handler.metrics.warehouse_down.set(1 if handler.sink.failing_since else 0)
        await _sync_accounts(parts, handler)
        if parts.stop_at_offsets is not None and _reached(handler.progress.next_offsets, parts.stop_at_offsets):
            log.info("replay complete: %s", handler.progress.snapshot())
            stopping["flag"] = True
            os.kill(os.getpid(), signal.SIGTERM)

    lag_probe = LagProbe(parts.kafka, parts.topics.events, parts.topics.group)

    @app.timer(5.0)
    async def measure_lag() -> None:
        loop = asyncio.get_running_loop()
        ends, committed = await loop.run_in_executor(None, lag_probe.offsets)
        lag_probe.update(handler, ends, committed)

    register_pages(app, parts, handler, lag_probe)

    app.usageflow_stopping = stopping  # type: ignore[attr-defined]
    _ = (rate_events, housekeeping, measure_lag)
    return app, handler


async def _sync_accounts(parts: WorkerParts, handler: BatchHandler) -> None:
    upserts, deleted = parts.accounts.drain_changes()
    if not upserts and not deleted:
        return
    from usageflow.billing.tables import upsert_accounts

    await handler.sink.retry(lambda: upsert_accounts(parts.warehouse, upserts, deleted), lambda: False)


def _reached(next_offsets: dict[int, int], target: dict[int, int]) -> bool:
    return all(next_offsets.get(p, 0) >= end for p, end in target.items() if end > 0)
