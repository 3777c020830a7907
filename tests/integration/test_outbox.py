"""The outbox on a real broker: every record acknowledged before it returns, and a record the
broker can never take raised, not dropped (its producer reports failures only)."""

from __future__ import annotations

import os
import threading
import uuid

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from usageflow.bus.admin import ensure_topics
from usageflow.bus.reader import read_topic
from usageflow.config import KafkaSettings, TopicSettings
from usageflow.errors import BrokerError
from usageflow.streams.outbox import KafkaOutbox, OutgoingRecord

pytestmark = pytest.mark.integration
LIMIT = 10_000  # max.message.bytes of the topic in the refusal test


@pytest.fixture
def setup(kafka_bootstrap: str) -> tuple[KafkaSettings, TopicSettings, KafkaOutbox]:
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    topics = TopicSettings(topic_prefix=f"o{uuid.uuid4().hex[:8]}.", partitions=1)
    ensure_topics(kafka, topics)
    return kafka, topics, KafkaOutbox(kafka, threading.Event())


def values_on(kafka: KafkaSettings, topic: str) -> list[bytes | None]:
    return [m.value() for m in read_topic(kafka, topic, idle_timeout_s=5.0)]


def test_every_record_is_on_the_topic_when_the_sends_return(
    setup: tuple[KafkaSettings, TopicSettings, KafkaOutbox],
) -> None:
    kafka, topics, outbox = setup
    keyed = [(f"w{n}".encode(), f"window {n}".encode()) for n in range(5_000)]
    outbox.send_keyed_and_wait(topics.windows, keyed)
    outbox.send_and_wait([OutgoingRecord(topics.alerts, b"a", f"alert {n}".encode()) for n in range(50)])
    assert values_on(kafka, topics.windows) == [value for _, value in keyed]
    assert values_on(kafka, topics.alerts) == [f"alert {n}".encode() for n in range(50)]


def limited_topic(kafka: KafkaSettings, name: str) -> str:
    """A topic created with the limit (set later, it takes effect a moment after the answer)."""
    admin = AdminClient(kafka.confluent_config())
    admin.create_topics([NewTopic(name, 1, 1, config={"max.message.bytes": str(LIMIT)})])[name].result(timeout=30)
    return name


def test_a_record_the_broker_refuses_is_raised(setup: tuple[KafkaSettings, TopicSettings, KafkaOutbox]) -> None:
    kafka, topics, outbox = setup
    topic = limited_topic(kafka, topics.alerts + ".limited")
    big = os.urandom(LIMIT * 2)  # lz4 cannot shrink it below the limit
    with pytest.raises(BrokerError, match="refused a record for"):
        outbox.send_and_wait([OutgoingRecord(topic, b"a", big)])
    with pytest.raises(BrokerError, match="refused a record for"):
        outbox.send_keyed_and_wait(topic, [(b"k1", b"small"), (b"k2", big)])
