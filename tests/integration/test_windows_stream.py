"""The pipeline's windows step on a real broker and a real warehouse: published when their end
passes, corrected by late events and duplicates never, and exact whatever a crash cut.

A "crash" raises out of `BatchPipeline.process` at a chosen point; the next life is a new
pipeline (fresh memory) on the same warehouse and topics that reads the same batch again, as a
restarted worker does with uncommitted offsets. The checks are the SQL-only invariant of
tests/fixtures/windows.py and the windows topic read back.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.fixtures.crash import Killed, die_after
from tests.fixtures.windows import published_rows, topic_latest, topic_mismatches, window_check
from usageflow.alerting.engine import LiveEngine
from usageflow.bus.admin import ensure_topics
from usageflow.bus.reader import read_topic
from usageflow.config import KafkaSettings, TopicSettings
from usageflow.ingest.batch import RawRecord
from usageflow.pricing.price_book import load_price_book
from usageflow.schemas import Account, WindowAggregate
from usageflow.streams.outbox import KafkaOutbox
from usageflow.streams.pipeline import BatchPipeline, Topics
from usageflow.warehouse import Warehouse
from usageflow.windows.recompute import kafka_publisher, recompute_windows

pytestmark = pytest.mark.integration

BOOK = load_price_book(None)
ACCOUNTS = {"w-la": Account(account_id="w-la", plan="standard", timezone="America/Los_Angeles")}


def ev(n: int, ts: str, account: str = "w-la", key: str = "k1", tokens: int = 1000) -> dict[str, object]:
    return {
        "schema_version": 1,
        "event_id": f"w{n}",
        "account_id": account,
        "api_key_id": key,
        "model": "qwen-max",
        "input_tokens": tokens,
        "output_tokens": tokens // 2,
        "cached_input_tokens": tokens // 10,
        "ts": ts,
        "latency_ms": 100,
    }


def batch(events: list[dict[str, object]], first_offset: int = 0, partition: int = 0) -> list[RawRecord]:
    return [
        RawRecord(str(e["account_id"]).encode(), json.dumps(e).encode(), "usage.events", partition, first_offset + i)
        for i, e in enumerate(events)
    ]


@pytest.fixture
def stream(kafka_bootstrap: str) -> Iterator[tuple[KafkaSettings, TopicSettings]]:
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    topics = TopicSettings(topic_prefix=f"w{uuid.uuid4().hex[:8]}.")
    ensure_topics(kafka, topics)
    yield kafka, topics


def life(
    warehouse: Warehouse,
    kafka: KafkaSettings,
    topics: TopicSettings,
    die_at: str | None = None,
    after_step: Callable[[str], None] | None = None,
) -> BatchPipeline:
    """A new worker process: fresh memory, the same warehouse and topics; killed once step
    `die_at` of a batch has finished (or `after_step` called after each step)."""
    stop = threading.Event()
    return BatchPipeline(
        warehouse,
        ACCOUNTS.get,
        BOOK,
        LiveEngine(BOOK),
        KafkaOutbox(kafka, stop),
        Topics(alerts=topics.alerts, dlq=topics.dlq, windows=topics.windows),
        kafka,
        stop,
        after_step=after_step or die_after(die_at),
    )


def topic_records(kafka: KafkaSettings, topics: TopicSettings) -> list[dict[str, Any]]:
    return [json.loads(m.value()) for m in read_topic(kafka, topics.windows)]


def assert_exact(warehouse: Warehouse, kafka: KafkaSettings, topics: TopicSettings) -> dict[str, Any]:
    check = window_check(warehouse)
    for kind in ("stale_revisions", "stale_open_rows", "events_without_row", "rows_without_events", "bad_total_tokens"):
        assert check[kind] == [], f"{kind}: {check[kind]}"
    latest = topic_latest(json.dumps(r).encode() for r in topic_records(kafka, topics))
    assert topic_mismatches(latest, published_rows(warehouse)) == []
    return check


DAY_ONE = [ev(i, f"2026-11-01T{8 + i:02d}:00:10-07:00") for i in range(4)]  # 08:00..11:00 local, 4 hours
NEXT_DAY = [ev(10, "2026-11-02T09:30:00-08:00")]  # after the clocks went back: closes day one


def test_windows_are_published_when_their_end_passes_then_revised_by_a_late_event(
    warehouse_factory: Callable[..., Warehouse], stream: tuple[KafkaSettings, TopicSettings]
) -> None:
    kafka, topics = stream
    warehouse = warehouse_factory()
    pipeline = life(warehouse, kafka, topics)
    first = pipeline.process(batch(DAY_ONE))
    # three of the four hours and minutes closed by the 11:00 event; the day is still open
    assert first.windows == 6
    assert {r["state"] for r in warehouse.query("SELECT state FROM usage_windows WHERE granularity = '1d'")} == {"open"}
    second = pipeline.process(batch(NEXT_DAY, first_offset=4))
    assert second.windows == 3  # the last minute and hour, and day one (25 hours long)
    records = topic_records(kafka, topics)
    days = [r for r in records if r["granularity"] == "1d"]
    assert [(d["window_start"], d["window_end"], d["requests"], d["revision"]) for d in days] == [
        ("2026-11-01T00:00:00-07:00", "2026-11-02T00:00:00-08:00", 4, 1)
    ]
    for r in records:
        WindowAggregate.model_validate(r)
    late = pipeline.process(batch([ev(20, "2026-11-01T08:00:40-07:00", tokens=2000)], first_offset=5))
    assert late.windows == 3  # its minute, hour and day, each with revision 2 and the full totals
    # (the topic's partitions are read one after the other: pick the records, not their order)
    revised = {r["granularity"]: r for r in topic_records(kafka, topics) if r["revision"] == 2}
    assert {g: (r["window_start"], r["requests"]) for g, r in revised.items()} == {
        "1m": ("2026-11-01T15:00:00Z", 2),
        "1h": ("2026-11-01T15:00:00Z", 2),
        "1d": ("2026-11-01T00:00:00-07:00", 5),
    }
    assert (
        Decimal(revised["1d"]["list_cost"])
        == warehouse.query("SELECT sum(list_cost) AS c FROM rated_events FINAL WHERE billing_date = '2026-11-01'")[0][
            "c"
        ]
    )
    dup = pipeline.process(batch([ev(20, "2026-11-01T08:00:40-07:00", tokens=2000)], first_offset=6))
    assert dup.windows == 0 and dup.duplicates == 1
    assert_exact(warehouse, kafka, topics)


def test_the_pipeline_names_each_step_of_a_batch_as_it_finishes(
    warehouse_factory: Callable[..., Warehouse], stream: tuple[KafkaSettings, TopicSettings]
) -> None:
    """The crash points of the fault tests: every step, in the order of BatchPipeline.process."""
    kafka, topics = stream
    steps: list[str] = []
    pipeline = life(warehouse_factory(), kafka, topics, after_step=steps.append)
    pipeline.process(batch(DAY_ONE))
    batch_steps = [
        "decode_validate_rate",
        "restore_live_state",
        "dedupe",
        "alert_rules",
        "publish",
        "insert",
        "record_alerts",
    ]
    assert steps == ["sync_published", *batch_steps, "windows_published", "windows"]
    steps.clear()
    pipeline.process(batch(DAY_ONE))  # the same records again: nothing fresh, no window to write
    assert steps == [*batch_steps, "windows"]


CRASHES = {  # where the worker dies -> the last step it finished
    "insert": "publish",  # before the events' insert: alerts out, nothing stored
    "windows": "record_alerts",  # before the windows step, the events stored
    "window_rows": "windows_published",  # before the window rows, the revisions on the topic
}


@pytest.mark.parametrize("crash", sorted(CRASHES))
def test_a_crash_anywhere_in_a_batch_leaves_the_windows_exact_once_it_is_read_again(
    warehouse_factory: Callable[..., Warehouse], stream: tuple[KafkaSettings, TopicSettings], crash: str
) -> None:
    kafka, topics = stream
    warehouse = warehouse_factory()
    life(warehouse, kafka, topics).process(batch(DAY_ONE))
    doomed = batch([*NEXT_DAY, ev(21, "2026-11-01T09:00:20-07:00"), ev(2, "2026-11-01T10:00:10-07:00")], 4)
    with pytest.raises(Killed):
        life(warehouse, kafka, topics, die_at=CRASHES[crash]).process(doomed)
    stored = warehouse.query("SELECT count() AS n FROM rated_events FINAL")[0]["n"]
    assert stored == (4 if crash == "insert" else 6)
    again = life(warehouse, kafka, topics)
    again.process(doomed)  # the same records: uncommitted offsets are read again
    check = assert_exact(warehouse, kafka, topics)
    assert check["published"] >= 9
    day = warehouse.query(
        "SELECT requests, revision FROM usage_windows WHERE granularity = '1d' AND window_date = '2026-11-01'"
    )
    assert [(r["requests"], r["revision"] >= 1) for r in day] == [(5, True)]


def test_a_restarted_worker_closes_the_windows_it_left_open(
    warehouse_factory: Callable[..., Warehouse], stream: tuple[KafkaSettings, TopicSettings]
) -> None:
    kafka, topics = stream
    warehouse = warehouse_factory()
    life(warehouse, kafka, topics).process(batch(DAY_ONE))
    opened = warehouse.query("SELECT count() AS n FROM usage_windows WHERE state = 'open'")[0]["n"]
    assert opened == 3  # the last minute and hour, and the day
    other = [ev(30, "2026-11-03T12:00:00-08:00", account="w-other")]  # another account, same partition
    life(warehouse, kafka, topics).process(batch(other, first_offset=4))
    rows = warehouse.query("SELECT granularity, state FROM usage_windows WHERE account_id = 'w-la' ORDER BY 1")
    assert {r["state"] for r in rows} == {"closed"}
    assert_exact(warehouse, kafka, topics)


def test_recompute_revises_the_windows_whose_stored_costs_changed(
    warehouse_factory: Callable[..., Warehouse], stream: tuple[KafkaSettings, TopicSettings]
) -> None:
    kafka, topics = stream
    warehouse = warehouse_factory()
    pipeline = life(warehouse, kafka, topics)
    pipeline.process(batch(DAY_ONE))
    pipeline.process(batch(NEXT_DAY, first_offset=4))
    # Re-price w1 (as `usageflow rerate` does: a new row for the same event id supersedes it).
    warehouse.command(
        "INSERT INTO rated_events SELECT * REPLACE (list_cost * 2 AS list_cost, now64(3) AS ingested_at) "
        "FROM rated_events FINAL WHERE event_id = 'w1'"
    )
    sent: list[tuple[bytes, bytes]] = []
    to_kafka = kafka_publisher(kafka, topics)

    def publish(records: Any) -> None:
        sent.extend(records)
        to_kafka(records)

    result = recompute_windows(
        warehouse,
        publish,
        "w-la",
        datetime(2026, 11, 1, 7, tzinfo=UTC),
        datetime(2026, 11, 3, 8, tzinfo=UTC),
    )
    assert sorted(json.loads(v)["granularity"] for _, v in sent) == ["1d", "1h", "1m"]
    assert {json.loads(v)["revision"] for _, v in sent} == {2}
    assert len(result.revisions) == 3 and result.windows_checked >= 9
    check = window_check(warehouse)
    assert check["stale_revisions"] == [] and check["stale_open_rows"] == []
    again = recompute_windows(
        warehouse, publish, "w-la", datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC)
    )
    assert again.revisions == []  # nothing left to change
    # The running pipeline reads the notice and reloads what it holds: its next revision of the
    # open day starts from the re-priced events.
    pipeline.windows._next_poll = 0.0  # type: ignore[union-attr]  # do not wait for the poll interval
    pipeline.process(batch([ev(40, "2026-11-02T10:00:00-08:00")], first_offset=5))
    pipeline.process(batch([ev(41, "2026-11-04T10:00:00-08:00")], first_offset=6))
    check = window_check(warehouse)
    assert check["stale_revisions"] == [] and check["stale_open_rows"] == []
    # Re-priced again, this time by a rerate run inside the worker between two batches.
    warehouse.command(
        "INSERT INTO rated_events SELECT * REPLACE (list_cost * 3 AS list_cost, now64(3) AS ingested_at) "
        "FROM rated_events FINAL WHERE event_id = 'w40'"
    )
    assert pipeline.windows is not None
    in_worker = pipeline.windows.recompute_month("2026-11", "w-la")
    assert sorted(r.key.granularity for r in in_worker.revisions) == ["1d", "1h", "1m"]
    pipeline.process(batch([ev(42, "2026-11-04T10:30:00-08:00")], first_offset=7))
    check = assert_exact(warehouse, kafka, topics)
    assert check["published"] > 0


def test_the_report_takes_its_days_from_the_day_windows_only_where_they_add_up(
    warehouse_factory: Callable[..., Warehouse], stream: tuple[KafkaSettings, TopicSettings]
) -> None:
    from usageflow.billing import queries
    from usageflow.billing.tables import load_price_book as load_price_tables
    from usageflow.billing.window_days import days_from_windows

    kafka, topics = stream
    warehouse = warehouse_factory()
    load_price_tables(warehouse, BOOK)
    pipeline = life(warehouse, kafka, topics)
    pipeline.process(batch(DAY_ONE))
    pipeline.process(batch([*NEXT_DAY, ev(50, "2026-11-02T11:00:00-08:00", key="k2")], first_offset=4))
    (report,) = queries.report(warehouse, "2026-11", "w-la")
    heads = [{"account_id": "w-la", "total_tokens": report.total_tokens, "list_cost": _month_cost(warehouse)}]
    from_windows = days_from_windows(warehouse, "2026-11", "w-la", heads)
    assert from_windows["w-la"] == report.by_day
    assert [(d.key, d.tokens) for d in report.by_day] == [("2026-11-01", 6000), ("2026-11-02", 3000)]
    # A day window behind its events (as after a crash, before the batch is read again): the
    # report computes that account's days from the events, and they still add up.
    warehouse.command(
        "INSERT INTO window_aggregates SELECT * REPLACE (requests - 1 AS requests, total_tokens - 1500 AS "
        "total_tokens, revision + 1 AS revision) FROM window_aggregates FINAL "
        "WHERE granularity = '1d' AND window_date = '2026-11-01'"
    )
    assert days_from_windows(warehouse, "2026-11", "w-la", heads) == {}
    (again,) = queries.report(warehouse, "2026-11", "w-la")
    assert again.by_day == report.by_day


def _month_cost(warehouse: Warehouse) -> Decimal:
    return warehouse.query("SELECT sum(list_cost) AS c FROM rated_events FINAL WHERE billing_month = '2026-11'")[0]["c"]
