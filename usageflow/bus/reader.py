"""Read a topic from the beginning (or the end) without a consumer group: for CLI inspection."""

from __future__ import annotations

from collections.abc import Iterator

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    Message,
    TopicPartition,
)

from usageflow.config import KafkaSettings
from usageflow.errors import BrokerError


def read_topic(
    kafka: KafkaSettings,
    topic: str,
    from_beginning: bool = True,
    follow: bool = False,
    idle_timeout_s: float = 10.0,
) -> Iterator[Message]:
    """Messages of every partition; without `follow`, stop at the end offsets seen at start."""
    consumer = Consumer(
        {
            **kafka.confluent_config(),
            "group.id": "usageflow-cli-reader",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=idle_timeout_s)
        info = meta.topics.get(topic)
        if info is None or info.error is not None or not info.partitions:
            return
        partitions = list(info.partitions)
        start = OFFSET_BEGINNING if from_beginning else OFFSET_END
        ends = {}
        for p in partitions:
            _low, ends[p] = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=idle_timeout_s)
        consumer.assign([TopicPartition(topic, p, start) for p in partitions])
        done = {p for p, high in ends.items() if high == 0 or not from_beginning}
        while True:
            if not follow and len(done) == len(partitions):
                return
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    done.add(msg.partition())
                    continue
                raise BrokerError(f"reading {topic}: {err}")
            yield msg
            offset = msg.offset()
            if offset is not None and offset + 1 >= ends.get(msg.partition(), 0):
                done.add(msg.partition())
    except Exception as exc:
        if isinstance(exc, BrokerError):
            raise
        raise BrokerError(f"cannot read {topic} from Kafka at {kafka.bootstrap}: {exc}") from exc
    finally:
        consumer.close()
