"""`Publisher.publish_lines` on the test broker validates 1,000 lines at a time with the columnar
validator: what reaches the events and dead-letter topics, and what it reports rejected (line
numbers, reasons, messages), is what `decode_event` decides line by line. A line the broker
refuses is sent again alone, and dead-lettered only if refused alone too."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator

import orjson
import pytest
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.hostile import GOOD_EVENTS, NOW
from tests.unit.test_columnar import raw_records
from usageflow.bus import producer as producer_module
from usageflow.bus.admin import ensure_topics
from usageflow.bus.dead_letters import MESSAGE_CHARS
from usageflow.bus.producer import Publisher, PublishReport, _numbered_chunks, _SentLines
from usageflow.bus.reader import read_topic
from usageflow.config import KafkaSettings, TopicSettings
from usageflow.errors import ValidationFailure
from usageflow.schemas.decode import decode_event
from usageflow.schemas.event_time import EventTimeRange

pytestmark = pytest.mark.integration
RANGE = EventTimeRange(clock=lambda: NOW)
RECORD_LIMIT = 20_000  # the events topic's max.message.bytes in the refusal test


@pytest.fixture
def fixed_clock() -> Iterator[None]:
    """Messages name the event-time window: the validator and the reference use one clock."""
    saved = producer_module.default_event_time_range
    producer_module.default_event_time_range = lambda: RANGE
    try:
        yield
    finally:
        producer_module.default_event_time_range = saved


def fresh_topics(kafka: KafkaSettings) -> TopicSettings:
    topics = TopicSettings(topic_prefix=f"p{uuid.uuid4().hex[:8]}.", partitions=1)
    ensure_topics(kafka, topics)
    return topics


def publish(kafka: KafkaSettings, topics: TopicSettings, lines: list[bytes]) -> PublishReport:
    with Publisher(kafka, topics) as publisher:
        return publisher.publish_lines(lines, "test")


def on_topic(kafka: KafkaSettings, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    """(key, value) of every record, in offset order (one partition)."""
    return [(m.key(), m.value()) for m in read_topic(kafka, topic, idle_timeout_s=5.0)]


def expected(lines: list[bytes]) -> tuple[list[tuple[int, str, str]], list[tuple[bytes, bytes]]]:
    """Line by line, as before: (rejections, (key, value) of the events sent)."""
    rejections, sent = [], []
    for number, line in enumerate(lines, start=1):
        raw = line.rstrip(b"\r\n")
        if not raw.strip():
            continue
        try:
            event = decode_event(raw, RANGE.window())
        except ValidationFailure as exc:
            rejections.append((number, exc.reason, exc.message))
        else:
            sent.append((event.account_id.encode(), raw))
    return rejections, sent


def dead_lettered(kafka: KafkaSettings, topics: TopicSettings) -> list[tuple[int, str, str]]:
    """(line, reason, message) of each dead letter on the topic, sorted by line."""
    letters = [json.loads(value or b"") for _, value in on_topic(kafka, topics.dlq)]
    assert all(letter["topic"] == "test" for letter in letters)
    return sorted((letter["offset"], letter["reason"], letter["message"]) for letter in letters)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    records=st.lists(raw_records(), min_size=1, max_size=40),
    repeat=st.integers(1, 60),
    ending=st.sampled_from([b"\n", b"\r\n", b""]),
)
def test_sends_and_rejections_are_those_of_the_record_validator(
    kafka_bootstrap: str, fixed_clock: None, records: list[bytes | None], repeat: int, ending: bytes
) -> None:
    """Up to 2,400 lines, so several chunks; blank lines and line ends as files have them."""
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    topics = fresh_topics(kafka)
    lines = [(raw or b"  ") + ending for raw in records] * repeat
    report = publish(kafka, topics, lines)
    rejections, sent = expected(lines)
    assert report.rejections == rejections
    assert on_topic(kafka, topics.events) == sent
    assert dead_lettered(kafka, topics) == [(n, reason, message[:MESSAGE_CHARS]) for n, reason, message in rejections]
    assert report.lines == report.published + report.rejected == len(rejections) + len(sent)


def test_chunks_end_at_every_thousandth_line_and_keep_line_numbers() -> None:
    lines = [b"x\n" if n % 7 else b"\n" for n in range(1, 2502)]
    chunks = list(_numbered_chunks(lines))
    assert [last for _, last in chunks] == [1000, 2000, 2501]
    numbers = [number for chunk, _ in chunks for number, _ in chunk]
    assert numbers == [n for n in range(1, 2502) if n % 7]
    assert all(raw == b"x" for chunk, _ in chunks for _, raw in chunk)


def limit_record_size(kafka: KafkaSettings, topic: str, max_bytes: int) -> None:
    """The broker refuses a record batch larger than the topic's max.message.bytes, whole."""
    admin = AdminClient(kafka.confluent_config())
    entry = ConfigEntry("max.message.bytes", str(max_bytes), incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[entry])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)


def padded(event_id: str, pad_bytes: int) -> bytes:
    """A valid event carrying `pad_bytes` random bytes (as base64: lz4 cannot shrink them)."""
    good = json.loads(GOOD_EVENTS[0])
    return orjson.dumps({**good, "event_id": event_id, "pad": os.urandom(pad_bytes).hex()})


def test_lines_kafka_refuses_are_sent_alone_and_named_by_their_line(kafka_bootstrap: str) -> None:
    """A medium line fits the topic alone but not in a batch with the others: the broker refuses
    its batch, it is sent again alone and published. A big line is refused alone too. Copies of
    one line keep their own numbers: Kafka answers them in the order they were sent."""
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    topics = fresh_topics(kafka)
    limit_record_size(kafka, topics.events, RECORD_LIMIT)
    medium = padded("medium", RECORD_LIMIT // 4)  # hex: half the limit
    big = padded("big", RECORD_LIMIT)  # hex: twice the limit
    lines = [GOOD_EVENTS[1], medium, big, GOOD_EVENTS[1], big, b"{oops", medium]
    report = publish(kafka, topics, lines)
    assert [(n, reason) for n, reason, _ in report.rejections] == [
        (3, "unsendable"),
        (5, "unsendable"),
        (6, "invalid_json"),
    ]
    assert all("MSG_SIZE_TOO_LARGE" in message for _, reason, message in report.rejections if reason == "unsendable")
    assert report.published == 4  # lines 1, 4, 2 and 7
    assert report.lines == report.published + report.rejected == 7
    values = [value for _, value in on_topic(kafka, topics.events)]
    assert sorted(values) == sorted([GOOD_EVENTS[1], GOOD_EVENTS[1], medium, medium])  # each once, big never
    assert [(n, reason) for n, reason, _ in dead_lettered(kafka, topics)] == [
        (3, "unsendable"),
        (5, "unsendable"),
        (6, "invalid_json"),
    ]


def test_copies_of_a_refused_line_are_named_in_the_order_sent() -> None:
    """Kafka answers one key's records in the order sent: the n-th refusal of some bytes is
    their n-th copy sent. Lines refused before sending, or not valid, are never named."""
    sent = _SentLines()
    sent.add([(1, b"a"), (2, b"b"), (3, b"a")], [b"a", b"b", b"a"], ["k", "k", "k"], [])
    sent.add([(4, b"x"), (5, b"a"), (6, b"a"), (7, b"c")], [b"x", b"a", b"a", b"c"], [ValueError(), "k", "k", "k"], [5])
    assert sent.count == 5  # 1, 2, 3, 6, 7
    refused = [(b"k", b"a"), (b"k", b"c"), (b"k", b"a"), (b"k", b"a")]
    assert sent.numbered(refused) == [(1, b"k", b"a"), (7, b"k", b"c"), (3, b"k", b"a"), (6, b"k", b"a")]
    assert sent.holds(b"b") and not sent.holds(b"z")
