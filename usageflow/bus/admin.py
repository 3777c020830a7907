"""Topic creation and offset look-ups."""

from __future__ import annotations

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from usageflow.config import KafkaSettings, TopicSettings
from usageflow.errors import BrokerError

RETENTION_MS_30_DAYS = str(30 * 24 * 3600 * 1000)


def ensure_topics(kafka: KafkaSettings, topics: TopicSettings, timeout: float = 10.0) -> None:
    """Create the topics of docs/events.md if missing (accounts and windows compacted), and the
    replays topic of `usageflow dlq replay` (usageflow.bus.dead_letter_index)."""
    admin = AdminClient(kafka.confluent_config())
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise BrokerError(
            f"Kafka at {kafka.bootstrap} is not reachable: start one with `usageflow kafka start` "
            "or set USAGEFLOW_KAFKA_BOOTSTRAP"
        ) from exc
    wanted = {
        topics.events: {"retention.ms": RETENTION_MS_30_DAYS},
        topics.accounts: {"cleanup.policy": "compact"},
        topics.alerts: {"retention.ms": RETENTION_MS_30_DAYS},
        topics.dlq: {"retention.ms": RETENTION_MS_30_DAYS},
        topics.dlq_replays: {"retention.ms": RETENTION_MS_30_DAYS},
        topics.windows: {"cleanup.policy": "compact"},
    }
    new = [
        NewTopic(name, num_partitions=topics.partitions, replication_factor=1, config=config)
        for name, config in wanted.items()
        if name not in existing
    ]
    if not new:
        return
    for name, future in admin.create_topics(new, operation_timeout=timeout).items():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise BrokerError(f"cannot create topic {name}: {exc}") from exc


def end_offsets(kafka: KafkaSettings, topic: str, timeout: float = 10.0) -> dict[int, int]:
    """High watermark of every partition of `topic` (the next offset to be written)."""
    consumer = Consumer({**kafka.confluent_config(), "group.id": "usageflow-offsets-probe"})
    try:
        meta = consumer.list_topics(topic, timeout=timeout)
        if topic not in meta.topics or meta.topics[topic].error is not None:
            return {}
        result = {}
        for partition in meta.topics[topic].partitions:
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
            result[partition] = high
        return result
    except KafkaException as exc:
        raise BrokerError(f"cannot read offsets of {topic}: {exc}") from exc
    finally:
        consumer.close()


def committed_offsets(kafka: KafkaSettings, group: str, topic: str, partitions: list[int]) -> dict[int, int]:
    consumer = Consumer({**kafka.confluent_config(), "group.id": group, "enable.auto.commit": False})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=15)
        return {tp.partition: tp.offset for tp in found if tp.offset >= 0}
    finally:
        consumer.close()
