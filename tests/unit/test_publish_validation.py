"""`Publisher.publish_lines` validates 1,000 lines at a time with the columnar validator: what it
sends and what it rejects (line numbers, reasons, messages) is what `decode_event` decides line
by line. The Kafka producer is replaced by one that records the sends and acknowledges them."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.hostile import GOOD_EVENTS, NOW
from tests.unit.test_columnar import raw_records
from usageflow.bus import producer as producer_module
from usageflow.bus.producer import Publisher, _hold, _numbered_chunks, _release
from usageflow.config import KafkaSettings, TopicSettings
from usageflow.errors import ValidationFailure
from usageflow.schemas.decode import decode_event
from usageflow.schemas.event_time import EventTimeRange

pytestmark = pytest.mark.unit
TOPICS = TopicSettings()
RANGE = EventTimeRange(clock=lambda: NOW)


class Message:
    def __init__(self, key: bytes | None, value: bytes | None) -> None:
        self._key, self._value = key, value

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return bytes(self._value) if self._value is not None else None  # a copy, as confluent-kafka's


class RecordingProducer:
    """What Publisher needs of confluent_kafka.Producer. A record is acknowledged, unless it is
    an event whose value holds `refused-in-batch` (refused the first time only: a batch with a too-large record
    fails whole) or `refused-alone` (always refused)."""

    def __init__(self, _config: dict[str, Any]) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []
        self._pending: list[tuple[Any, Message, str]] = []
        self._refused_once: set[bytes] = set()

    def produce(self, topic: str, key: bytes | None = None, value: bytes | None = None, **kw: Any) -> None:
        self.sent.append((topic, key, value))
        self._pending.append((kw.get("on_delivery"), Message(key, value), topic))

    def poll(self, _timeout: float = 0) -> int:
        pending, self._pending = self._pending, []
        for callback, msg, topic in pending:
            if callback is not None:
                callback(self._error(msg.value() or b"") if topic == TOPICS.events else None, msg)
        return 0

    def _error(self, value: bytes) -> str | None:
        if b"refused-alone" in value:
            return "MSG_SIZE_TOO_LARGE"
        if b"refused-in-batch" in value and value not in self._refused_once:
            self._refused_once.add(value)
            return "MSG_SIZE_TOO_LARGE"
        return None

    def flush(self, timeout: float = 0) -> int:
        self.poll(timeout)
        return 0


def publish(lines: list[bytes], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, RecordingProducer]:
    monkeypatch.setattr(producer_module, "Producer", RecordingProducer)
    monkeypatch.setattr(producer_module, "default_event_time_range", lambda: RANGE)  # messages name the range
    publisher = Publisher(KafkaSettings(), TOPICS)
    report = publisher.publish_lines(lines, "test")
    return report, publisher._producer  # type: ignore[return-value]


def expected(lines: list[bytes]) -> tuple[list[tuple[int, str, str]], list[tuple[str, bytes, bytes]]]:
    """Line by line, as before: (rejections, events sent)."""
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
            sent.append((TOPICS.events, event.account_id.encode(), raw))
    return rejections, sent


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    records=st.lists(raw_records(), min_size=1, max_size=40),
    repeat=st.integers(1, 60),
    ending=st.sampled_from([b"\n", b"\r\n", b""]),
)
def test_sends_and_rejections_are_those_of_the_record_validator(
    records: list[bytes | None], repeat: int, ending: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Up to 2,400 lines, so several chunks; blank lines and line ends as files have them."""
    lines = [(raw or b"  ") + ending for raw in records] * repeat
    report, producer = publish(lines, monkeypatch)
    rejections, sent = expected(lines)
    assert report.rejections == rejections
    assert [s for s in producer.sent if s[0] == TOPICS.events] == sent
    assert [s[0] for s in producer.sent if s[0] != TOPICS.events] == [TOPICS.dlq] * len(rejections)
    assert report.lines == report.published + report.rejected == len(rejections) + len(sent)


def test_chunks_end_at_every_thousandth_line_and_keep_line_numbers() -> None:
    lines = [b"x\n" if n % 7 else b"\n" for n in range(1, 2502)]
    chunks = list(_numbered_chunks(lines))
    assert [last for _, last in chunks] == [1000, 2000, 2501]
    numbers = [number for chunk, _ in chunks for number, _ in chunk]
    assert numbers == [n for n in range(1, 2502) if n % 7]
    assert all(raw == b"x" for chunk, _ in chunks for _, raw in chunk)


def test_lines_kafka_refuses_are_sent_alone_and_named_by_their_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Copies of one line keep their own numbers: Kafka answers them in the order they were sent."""
    good = json.loads(GOOD_EVENTS[0])
    in_batch = orjson.dumps({**good, "event_id": "refused-in-batch"})
    alone = orjson.dumps({**good, "event_id": "refused-alone"})
    lines = [GOOD_EVENTS[1], in_batch, alone, GOOD_EVENTS[1], alone, b"{oops", in_batch]
    report, producer = publish(lines, monkeypatch)
    assert [(n, reason) for n, reason, _ in report.rejections] == [
        (3, "unsendable"),
        (5, "unsendable"),
        (6, "invalid_json"),
    ]
    assert report.published == 4  # lines 1, 4, and 2 and 7 once sent alone
    assert report.lines == report.published + report.rejected == 7
    sent_events = [value for topic, _, value in producer.sent if topic == TOPICS.events]
    assert sent_events.count(in_batch) == 3  # both copies, then the copy refused in its batch again alone


def test_copies_of_a_line_in_flight_are_answered_in_the_order_sent() -> None:
    in_flight: dict[bytes, int | list[int]] = {}
    for number, raw in enumerate([b"a", b"b", b"a", b"a", b"c"], start=1):
        _hold(in_flight, raw, number)
    assert [_release(in_flight, raw) for raw in (b"a", b"b", b"a", b"c", b"a")] == [1, 2, 3, 5, 4]
    assert in_flight == {}
