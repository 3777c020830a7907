"""`Publisher.publish_lines` validates 1,000 lines at a time with the columnar validator: what it
sends and what it rejects (line numbers, reasons, messages) is what `decode_event` decides line
by line. The Kafka producer is replaced by one that records the sends and acknowledges them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.hostile import NOW
from tests.unit.test_columnar import raw_records
from usageflow.bus import producer as producer_module
from usageflow.bus.producer import Publisher, _numbered_chunks
from usageflow.config import KafkaSettings, TopicSettings
from usageflow.errors import ValidationFailure
from usageflow.schemas.decode import decode_event
from usageflow.schemas.event_time import EventTimeRange

pytestmark = pytest.mark.unit
TOPICS = TopicSettings()
RANGE = EventTimeRange(clock=lambda: NOW)


class RecordingProducer:
    """What Publisher needs of confluent_kafka.Producer; every record is acknowledged."""

    def __init__(self, _config: dict[str, Any]) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []
        self._pending: list[Any] = []

    def produce(self, topic: str, key: bytes | None = None, value: bytes | None = None, **kw: Any) -> None:
        self.sent.append((topic, key, value))
        self._pending.append(kw.get("on_delivery"))

    def poll(self, _timeout: float = 0) -> int:
        for callback in self._pending:
            if callback is not None:
                callback(None, None)
        self._pending.clear()
        return 0

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
