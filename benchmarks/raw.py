"""The floor: confluent-kafka batch consume of the events topic plus orjson decode, nothing else."""

from __future__ import annotations

import time
import uuid

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from benchmarks import BenchError
from benchmarks.stats import Span, span_from_points
from usageflow.config import KafkaSettings

BATCH = 10_000


def raw_consume(kafka: KafkaSettings, topic: str, expected: int, timeout_s: float = 300.0) -> Span:
    """Read `expected` records from the beginning of every partition and decode each value."""
    consumer = Consumer(
        {
            **kafka.confluent_config(),
            "group.id": f"usageflow-bench-raw-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "fetch.max.bytes": 64 * 1024 * 1024,
            "queued.max.messages.kbytes": 256 * 1024,
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=10)
        info = meta.topics.get(topic)
        if info is None or info.error is not None:
            raise BenchError(f"topic {topic} does not exist")
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in info.partitions])
        # 10,000 per call; small runs use smaller calls so the span still has several batches
        size = BATCH if expected >= 5 * BATCH else max(100, expected // 5)
        points: list[tuple[float, int]] = []
        seen = 0
        deadline = time.monotonic() + timeout_s
        while seen < expected:
            if time.monotonic() > deadline:
                raise BenchError(f"raw consume read {seen} of {expected} records in {timeout_s:.0f}s")
            batch = consumer.consume(num_messages=size, timeout=1.0)
            for msg in batch:
                if msg.error() is not None:
                    continue
                value = msg.value()
                if value is not None:
                    orjson.loads(value)
                seen += 1
            if batch:
                points.append((time.perf_counter(), seen))
    finally:
        consumer.close()
    span = span_from_points(points)
    if span is None:
        raise BenchError("raw consume saw everything in one batch: use more --events")
    return span


def raw_produce(kafka: KafkaSettings, topic: str, records: list[tuple[bytes, bytes]], partitions: int) -> float:
    """The publisher's floor: a bare confluent-kafka Producer with the publisher's settings
    (idempotent, acks=all, lz4, linger 20 ms) sending the same (key, value) records to a topic of
    its own, without validation or per-record callbacks; returns seconds from the first send to
    the last acknowledgement."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(kafka.confluent_config())
    for name, future in admin.create_topics([NewTopic(topic, num_partitions=partitions)]).items():
        try:
            future.result(timeout=10)
        except Exception as exc:
            raise BenchError(f"cannot create topic {name}: {exc}") from exc
    producer = Producer(
        {
            **kafka.confluent_config(),
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": "lz4",
            "linger.ms": 20,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 500_000,
        }
    )
    producer.list_topics(topic, timeout=10)  # metadata first, as the publisher has it from its accounts
    started = time.perf_counter()
    produce, poll = producer.produce, producer.poll
    for n, (key, value) in enumerate(records, start=1):
        while True:
            try:
                produce(topic, value, key)
                break
            except BufferError:
                poll(0.1)
        if n % 1000 == 0:
            poll(0)
    remaining = producer.flush(60.0)
    seconds = time.perf_counter() - started
    if remaining:
        raise BenchError(f"raw produce: {remaining} records were not acknowledged")
    return seconds
