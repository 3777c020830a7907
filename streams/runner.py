"""Start the worker: topics, warehouse, accounts, then Faust until SIGTERM/Ctrl-C."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import faust

from usageflow.alerting.engine import LiveEngine
from usageflow.billing.access import remove_endpoint, write_endpoint
from usageflow.bus.accounts import AccountDirectory
from usageflow.bus.admin import committed_offsets, ensure_topics
from usageflow.config import KafkaSettings, PathSettings, StreamSettings, TopicSettings
from usageflow.errors import BrokerError, WarehouseError, WarehouseLockedError
from usageflow.logs import logging_config
from usageflow.pricing.price_book import PriceBook, load_price_book
from usageflow.streams.app import WorkerParts, create_app
from usageflow.streams.progress import Progress
from usageflow.warehouse import Warehouse, open_warehouse
from usageflow.warehouse.migrate import migrate

log = logging.getLogger(__name__)
T = TypeVar("T")
_LOCKED_POLL_S = 1.0


@dataclass
class WorkerSettings:
    kafka: KafkaSettings
    topics: TopicSettings
    stream: StreamSettings
    paths: PathSettings
    warehouse_url: str
    loglevel: str = "WARNING"


def run_worker(settings: WorkerSettings, stop_at_offsets: dict[int, int] | None = None) -> Progress:
    """Run until stopped (or, for replay, until `stop_at_offsets` are stored). Blocks."""
    book = load_price_book(settings.paths.price_book)
    _until_ready("Kafka", lambda: ensure_topics(settings.kafka, settings.topics))
    warehouse = _until_ready("the warehouse", lambda: _prepare_warehouse(settings.warehouse_url, book))
    accounts = AccountDirectory(settings.kafka, settings.topics.accounts, dead_letter_topic=settings.topics.dlq)
    accounts.start()
    _store_accounts(warehouse, accounts)
    parts = WorkerParts(
        kafka=settings.kafka,
        topics=settings.topics,
        stream=settings.stream,
        paths=settings.paths,
        book=book,
        warehouse=warehouse,
        accounts=accounts,
        engine=LiveEngine(book, allowed_lateness=timedelta(hours=settings.stream.allowed_lateness_hours)),
        stop_at_offsets=stop_at_offsets,
    )
    worker_parts = create_app(parts)
    app = worker_parts.app
    progress = worker_parts.state.progress
    if stop_at_offsets is not None:
        progress.next_offsets.update(
            committed_offsets(settings.kafka, settings.topics.group, settings.topics.events, list(stop_at_offsets))
        )
    write_endpoint(
        settings.paths.data_dir,
        settings.stream.http_host,
        settings.stream.http_port,
        warehouse.target.describe(),
    )
    faust_worker = faust.Worker(
        app,
        loglevel=settings.loglevel,
        quiet=True,
        redirect_stdouts=False,
        logging_config=logging_config(settings.loglevel, settings.stream.log_format),
    )
    faust_worker.spinner = None  # no terminal escape codes in logs and pipes
    try:
        faust_worker.execute_from_commandline()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    finally:
        remove_endpoint(settings.paths.data_dir)
        worker_parts.pipeline.outbox.close()
        accounts.stop()
        warehouse.close()
    return progress


def _prepare_warehouse(url: str, book: PriceBook) -> Warehouse:
    from usageflow.billing.tables import load_price_book as load_price_tables

    warehouse = open_warehouse(url)
    try:
        migrate(warehouse)
        load_price_tables(warehouse, book)
    except WarehouseError:
        warehouse.close()
        raise
    return warehouse


def _until_ready(what: str, attempt: Callable[[], T], max_delay_s: float = 30.0) -> T:
    """At start, wait for an unavailable broker or warehouse (server down, chDB path held)
    with back-off instead of exiting; configuration errors still stop at once.

    A held chDB path is probed every second (a local lock check costs nothing): that is how a
    standby worker started on the same path takes over within a second of the owner's exit.
    It joins the consumer group only then, so it never holds partitions it cannot store."""
    delay = 0.5
    last_logged = -float("inf")
    while True:
        try:
            return attempt()
        except WarehouseLockedError as exc:
            if time.monotonic() - last_logged >= 30.0:
                log.warning("standing by: %s; taking over when it is released", exc)
                last_logged = time.monotonic()
            time.sleep(_LOCKED_POLL_S)
        except (BrokerError, WarehouseError) as exc:
            log.warning("%s is not available (%s); retrying in %.1fs", what, exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, max_delay_s)


def _store_accounts(warehouse: Warehouse, accounts: AccountDirectory) -> None:
    from usageflow.billing.tables import upsert_accounts

    upserts, deleted = accounts.drain_changes()
    if upserts or deleted:
        upsert_accounts(warehouse, upserts, deleted)
