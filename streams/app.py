"""The Faust application: the rating agent, housekeeping timers, HTTP endpoints.

A thin shell: the agent hands each batch to `BatchPipeline.process` (usageflow.streams.pipeline,
the one place a batch is sequenced) on a thread of its own, and resolves the reader's future
with the report; validation, rating, alert rules and storage live below it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import faust

from usageflow.alerting.engine import LiveEngine
from usageflow.bus.accounts import AccountDirectory
from usageflow.config import KafkaSettings, PathSettings, StreamSettings, TopicSettings
from usageflow.pricing.price_book import PriceBook
from usageflow.streams.http import register_pages
from usageflow.streams.lag import LagProbe
from usageflow.streams.monitor import BatchMonitor
from usageflow.streams.outbox import KafkaOutbox
from usageflow.streams.pipeline import BatchPipeline, Topics
from usageflow.streams.progress import WorkerState
from usageflow.streams.reader import EventBatch, EventReader
from usageflow.streams.source import BatchSource, default_instance_id
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


@dataclass
class Worker:
    """What the running worker is made of, for the runner and the HTTP pages."""

    app: faust.App
    pipeline: BatchPipeline
    state: WorkerState
    stop: threading.Event
    pipeline_thread: ThreadPoolExecutor  # runs every batch, one at a time


def create_app(parts: WorkerParts) -> Worker:
    stream = parts.stream
    # The events come in batches from usageflow.streams.source, whose consumer is the `group`
    # member. Faust's own consumer only follows its leader topic, under an id of its own (one
    # group cannot mix Faust's assignor with librdkafka's).
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
    stop = threading.Event()
    state = WorkerState()
    pipeline = BatchPipeline(
        parts.warehouse,
        parts.accounts.get,
        parts.book,
        parts.engine,
        KafkaOutbox(parts.kafka, stop),
        Topics(alerts=parts.topics.alerts, dlq=parts.topics.dlq, windows=parts.topics.windows),
        parts.kafka,
        stop,
        open_row_interval_s=stream.window_open_row_interval_s,
    )
    static = stream.static_membership or stream.instance_id
    instance_id = default_instance_id(parts.topics.group, stream, parts.paths) if static else None
    source = BatchSource(
        parts.kafka,
        parts.topics.events,
        parts.topics.group,
        stream.flush_max_rows,
        stream.flush_interval_s,
        instance_id=instance_id,
    )
    batches = app.channel()
    pipeline_thread = ThreadPoolExecutor(1, thread_name_prefix="usageflow-pipeline")

    @app.agent(batches, name="rate-events")
    async def rate_events(stream: faust.StreamT[EventBatch]) -> None:
        """One message per batch read from the events topic (see usageflow.streams.source)."""
        loop = asyncio.get_running_loop()
        async for batch in stream:
            try:
                report = await loop.run_in_executor(pipeline_thread, pipeline.process, batch.records)
            except BaseException as exc:
                if not batch.done.done():
                    batch.done.set_exception(exc)
                raise
            batch.done.set_result(report)

    reader = EventReader(source, batches, pipeline, state, stop)
    app.task(reader.run)
    app.on_before_shutdown.connect(reader.on_shutdown)  # type: ignore[arg-type]  # async receiver

    @app.timer(0.5)
    async def housekeeping() -> None:
        state.metrics.warehouse_down.set(1 if pipeline.retry.failing_since else 0)
        await _sync_accounts(parts, pipeline)
        if parts.stop_at_offsets is not None and _reached(state.progress.next_offsets, parts.stop_at_offsets):
            log.info("replay complete: %s", state.progress.snapshot())
            stop.set()
            os.kill(os.getpid(), signal.SIGTERM)

    lag_probe = LagProbe(parts.kafka, parts.topics.events, parts.topics.group)

    @app.timer(5.0)
    async def measure_lag() -> None:
        loop = asyncio.get_running_loop()
        ends, committed = await loop.run_in_executor(None, lag_probe.offsets)
        lag_probe.update(state, ends, committed)

    worker = Worker(app, pipeline, state, stop, pipeline_thread)
    register_pages(app, parts, worker, lag_probe)
    _ = (rate_events, housekeeping, measure_lag)
    return worker


async def _sync_accounts(parts: WorkerParts, pipeline: BatchPipeline) -> None:
    upserts, deleted = parts.accounts.drain_changes()
    if not upserts and not deleted:
        return
    from usageflow.billing.tables import upsert_accounts

    loop = asyncio.get_running_loop()
    await loop.run_in_executor(
        None,
        lambda: pipeline.retry.call("storing accounts", lambda: upsert_accounts(parts.warehouse, upserts, deleted)),
    )


def _reached(next_offsets: dict[int, int], target: dict[int, int]) -> bool:
    return all(next_offsets.get(p, 0) >= end for p, end in target.items() if end > 0)
