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
