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
2. around the windows of a batch (step 8 of `BatchPipeline.process`, usageflow.streams.window_step):
   killed after the events' insert but before the windows step, after the window revisions were
   acknowledged by the broker but before their rows were stored, and after the rows (before the
   commit). The restarted worker finds the batch's events stored (not fresh), so nothing moves
   its windows forward by itself: the windows of those events must be checked against the
   warehouse and every lost revision published then. docs/guarantees.md: for every window, its
   highest stored revision equals the aggregate of the stored events, and the topic agrees.

These run in the test process with the shared embedded warehouse of tests/conftest.py (a
database per test), or a ClickHouse server when USAGEFLOW_TEST_CLICKHOUSE_URL is set.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable

import pytest

from tests.fixtures.crash import Killed, die_after
from tests.fixtures.windows import published_rows, topic_latest, topic_mismatches, window_check
from usageflow.alerting.engine import LiveEngine
from usageflow.bus.admin import ensure_topics
from usageflow.bus.reader import read_topic
from usageflow.config import KafkaSettings, TopicSettings
from usageflow.ingest.batch import RawRecord
from usageflow.pricing.price_book import load_price_book
from usageflow.schemas import Account
from usageflow.streams.outbox import KafkaOutbox, OutgoingRecord
from usageflow.streams.pipeline import BatchPipeline, Topics
from usageflow.warehouse import Warehouse

pytestmark = pytest.mark.faults

BOOK = load_price_book(None)
STARTER = Account(account_id="al-1", plan="starter")  # daily limit 16,666.67 tokens, 5 concurrent


class Accounts:
    def get(self, account_id: str) -> Account | None:
        return STARTER if account_id == "al-1" else None


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
        # "insert": dies once the alerts are acknowledged, before the insert; "store_alerts":
        # once the events are stored, before the alerts are recorded
        after_step=die_after({"insert": "publish", "store_alerts": "insert"}.get(die_at or "")),
    )
    try:
        pipeline.process(batch)
    except Killed:
        assert die_at is not None
    else:
        assert die_at is None, f"the worker was never killed at {die_at}"
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


@pytest.mark.parametrize("die_at", ["windows", "window_rows", "commit"])
def test_a_worker_killed_around_the_windows_of_a_batch_leaves_them_exact(
    warehouse_factory: Callable[..., Warehouse], kafka_bootstrap: str, die_at: str
) -> None:
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    warehouse = warehouse_factory()
    topics = topics_for(f"w{uuid.uuid4().hex[:8]}.", kafka)
    batch = records()
    stop = threading.Event()

    def pipeline(last_step: str | None = None) -> BatchPipeline:
        """A worker that dies once step `last_step` of a batch has finished."""
        return BatchPipeline(
            warehouse,
            Accounts().get,
            BOOK,
            LiveEngine(BOOK),
            KafkaOutbox(kafka, stop),
            Topics(alerts=topics.alerts, dlq=topics.dlq, windows=topics.windows),
            kafka,
            stop,
            after_step=die_after(last_step),
        )

    # the last step the first worker finishes: before the windows step, before the window rows
    # (revisions on the topic), or everything done with the offsets never committed
    first = pipeline({"windows": "record_alerts", "window_rows": "windows_published"}.get(die_at))
    if die_at == "commit":
        first.process(batch)
    else:
        with pytest.raises(Killed):
            first.process(batch)
    assert stored_events(warehouse) == len(batch)
    pipeline().process(batch)  # the restarted worker reads the same records again
    check = window_check(warehouse)
    for kind in ("stale_revisions", "stale_open_rows", "events_without_row", "rows_without_events"):
        assert check[kind] == [], f"killed at {die_at}: {kind} {check[kind]}"
    latest = topic_latest(m.value() or b"{}" for m in read_topic(kafka, topics.windows))
    assert topic_mismatches(latest, published_rows(warehouse)) == []
    # six days of ten hourly requests and four in flight: every day but the last is published
    days = warehouse.query("SELECT window_date, requests, state FROM usage_windows WHERE granularity = '1d' ORDER BY 1")
    assert [(r["requests"], r["state"]) for r in days] == [(14, "closed")] * 5 + [(14, "open")]
