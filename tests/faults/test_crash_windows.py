"""The crash windows the random SIGKILLs of test_fault_scenarios.py can only hit by chance,
opened on purpose so the outcome is the same on every run.

A SIGKILL leaves exactly the state a failure at that point leaves: what was written stays
written, the in-memory state is gone, and Kafka offsets are not committed, so the restarted
worker reads the batch again. Two such points:

1. around the alerts of a batch (`BatchPipeline.process`, usageflow.streams.pipeline: dedupe
   query, alert rules, publish, insert, record the alerts): killed before publishing, after
   publishing but before the insert, and after the insert but before the alerts are recorded.
   docs/guarantees.md promises an alert "once per (account, type, period, level)": neither
   zero times (a re-read event that is already stored never reaches the rules again) nor
   twice (the restarted worker knows what the alerts topic holds). The batch spans six days,
   more than the live state keeps (four), as the 20,000-record batches of a backlog do.
2. after `rated_events` took an insert and before the materialized views' targets
   (`usage_windows`) did: ClickHouse writes the source table's part and the views' parts
   separately, so a kill in between (or a failure of the rollup's write, injected here with an
   immutable part directory) leaves stored events without their rollup rows, and the retry
   skips them as already stored. docs/guarantees.md: "a window rollup: each stored event
   counted once".

These run in the test process with the shared embedded warehouse of tests/conftest.py (a
database per test), or a ClickHouse server for (1) when USAGEFLOW_TEST_CLICKHOUSE_URL is set.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Callable
from typing import Any
from unittest.mock import patch

import orjson
import pytest

from usageflow.alerting.engine import LiveEngine
from usageflow.bus.admin import ensure_topics
from usageflow.config import KafkaSettings, TopicSettings
from usageflow.demo.generator import generate_events
from usageflow.ingest.batch import RawRecord
from usageflow.pricing.price_book import load_price_book
from usageflow.pricing.rating import rate_event
from usageflow.schemas import Account
from usageflow.schemas.decode import decode_event
from usageflow.streams.outbox import KafkaOutbox, OutgoingRecord
from usageflow.streams.pipeline import BatchPipeline, Topics
from usageflow.streams.rated_rows import rated_events_table
from usageflow.streams.sink import WarehouseSink
from usageflow.warehouse import Warehouse

pytestmark = pytest.mark.faults

BOOK = load_price_book(None)
STARTER = Account(account_id="al-1", plan="starter")  # daily limit 16,666.67 tokens, 5 concurrent


class Accounts:
    def get(self, account_id: str) -> Account | None:
        return STARTER if account_id == "al-1" else None


class Killed(Exception):
    """Stands for the SIGKILL: nothing after this point happens."""


def ev(event_id: str, ts: str, latency_ms: int = 100) -> dict[str, object]:
    return {
        "schema_version": 1,
        "event_id": event_id,
        "account_id": "al-1",
        "api_key_id": "key-1",
        "model": "qwen-max",
        "region": "us-west",
        "input_tokens": 1000,
        "output_tokens": 0,
        "ts": ts,
        "latency_ms": latency_ms,
    }


def records(days: int = 6) -> list[RawRecord]:
    """`days` days of al-1 (as in tests/integration/test_alerts_stream.py), each: ten requests an
    hour apart (10,000 tokens), then four in flight together (>= 0.75 x 5 concurrent) taking the
    day to 14,000 tokens (>= 0.8 x 16,666.67). Partition 0, offsets 0.. (uncommitted: read again
    on restart)."""
    events = []
    for d in range(3, 3 + days):
        events += [ev(f"a{d}-{i}", f"2026-11-{d:02d}T{9 + i:02d}:00:00+08:00") for i in range(10)]
        events += [ev(f"c{d}-{i}", f"2026-11-{d:02d}T20:00:{10 + i:02d}+08:00", latency_ms=20_000) for i in range(4)]
    return [RawRecord(b"al-1", json.dumps(e).encode(), "usage.events", 0, n) for n, e in enumerate(events)]


def alert_keys_of(values: list[bytes]) -> list[tuple[str, str, str]]:
    return sorted((a["type"], a["period"], a["level"]) for a in map(json.loads, values))


class RecordingOutbox(KafkaOutbox):
    """The worker's real outbox on the test broker, noting the alerts the broker acknowledged;
    with `die_before` it is killed before it sends anything."""

    def __init__(self, kafka: KafkaSettings, alerts_topic: str, die_before: bool) -> None:
        super().__init__(kafka, threading.Event())
        self.alerts_topic = alerts_topic
        self.die_before = die_before
        self.acknowledged: list[bytes] = []

    def send_and_wait(self, records: list[OutgoingRecord]) -> None:
        if self.die_before and records:
            raise Killed()
        super().send_and_wait(records)
        self.acknowledged += [r.value for r in records if r.topic == self.alerts_topic]


def run_life(
    warehouse: Warehouse, kafka: KafkaSettings, topics: TopicSettings, batch: list[RawRecord], die_at: str | None = None
) -> list[bytes]:
    """One worker life: the worker's own BatchPipeline with a fresh engine (state lost with the
    process), the same warehouse and topics. Like a started worker it first reads back the
    alerts topic. `die_at`: "publish", "insert" or "store_alerts". Returns the alerts the broker
    acknowledged in this life."""
    outbox = RecordingOutbox(kafka, topics.alerts, die_before=die_at == "publish")
    stop = threading.Event()
    pipeline = BatchPipeline(
        warehouse,
        Accounts().get,
        BOOK,
        LiveEngine(BOOK),
        outbox,
        Topics(alerts=topics.alerts, dlq=topics.dlq),
        kafka,
        stop,
    )

    def killed(*_: Any) -> None:
        raise Killed()

    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.suppress(Killed))
        if die_at == "insert":
            stack.enter_context(patch.object(pipeline.sink, "insert", killed))
        if die_at == "store_alerts":
            stack.enter_context(patch("usageflow.streams.pipeline.store_alerts", killed))
        pipeline.process(batch)
    outbox.close()
    return outbox.acknowledged


def stored_events(warehouse: Warehouse) -> int:
    return int(warehouse.query("SELECT count() AS n FROM rated_events FINAL")[0]["n"])


def topics_for(prefix: str, kafka: KafkaSettings) -> TopicSettings:
    topics = TopicSettings(topic_prefix=prefix)
    ensure_topics(kafka, topics)
    return topics


@pytest.mark.parametrize("die_at", ["publish", "insert", "store_alerts"])
def test_a_worker_killed_around_the_alerts_of_a_batch_neither_loses_nor_repeats_them(
    warehouse_factory: Callable[..., Warehouse], kafka_bootstrap: str, die_at: str
) -> None:
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    batch = records()
    control = alert_keys_of(run_life(warehouse_factory(), kafka, topics_for(f"c{uuid.uuid4().hex[:8]}.", kafka), batch))
    assert len(control) == 2 * 6 and {p for _, p, _ in control} == {f"2026-11-{d:02d}" for d in range(3, 9)}

    warehouse = warehouse_factory()
    topics = topics_for(f"k{uuid.uuid4().hex[:8]}.", kafka)
    first = run_life(warehouse, kafka, topics, batch, die_at=die_at)
    assert stored_events(warehouse) == (len(batch) if die_at == "store_alerts" else 0)
    second = run_life(warehouse, kafka, topics, batch)
    assert stored_events(warehouse) == len(batch)
    on_topic = first + second
    assert alert_keys_of(on_topic) == control, (
        f"killed at {die_at}: the alerts topic holds {alert_keys_of(on_topic)}, want each of {control} once"
    )
    # The restarted life read the alerts topic back first (pipeline step 0) and recorded in the
    # warehouse the alerts it missed.
    recorded = warehouse.query("SELECT type, period, toString(level) AS level FROM alerts FINAL")
    assert sorted((r["type"], r["period"], r["level"]) for r in recorded) == control


def rated_batch(count: int = 500) -> list[Any]:
    return [rate_event(decode_event(orjson.dumps(e)), None, BOOK) for e in generate_events(count, seed=99)]


def test_windows_count_every_stored_event_once_whatever_the_inserts(
    warehouse_factory: Callable[..., Warehouse],
) -> None:
    """An insert-time rollup (materialized views) lost the window rows of an insert cut short
    between the table and its views, and the retry skipped the events as already stored. The
    windows are now computed from the stored events, so there is no second write to lose."""
    warehouse = warehouse_factory()
    engine = warehouse.query(
        "SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = 'usage_windows'"
    )[0]["engine"]
    assert engine == "View", "usage_windows must not depend on a second, separately committed write"
    sink = WarehouseSink(warehouse)
    batch = rated_batch()
    sink.insert(batch[:300])
    warehouse.insert_arrow("rated_events", rated_events_table(batch[:100]))  # a racing duplicate insert
    fresh = sink.fresh(batch)  # a restarted worker re-reading the whole batch
    sink.insert([batch[i] for i in fresh])
    stored = warehouse.query("SELECT count() AS n FROM rated_events FINAL")[0]["n"]
    rows = warehouse.query("SELECT granularity, sum(requests) AS n FROM usage_windows GROUP BY granularity")
    windows = {r["granularity"]: int(r["n"]) for r in rows}
    assert stored == len(batch) and len(batch) - len(fresh) == 300
    assert windows == {g: len(batch) for g in ("1m", "1h", "1d")}
