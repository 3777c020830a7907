"""The idempotent publisher: what `usageflow publish` uses, and the Python API for platforms.

from usageflow.bus.producer import Publisher
with Publisher.connect() as pub:          # settings from USAGEFLOW_* variables
    pub.publish_event({"schema_version": 1, "event_id": "...", ...})
    pub.publish_event({...}, provider_usage=response.usage, provider="openai")  # counts from the provider
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import orjson
from confluent_kafka import KafkaException, Producer

from usageflow.bus.dead_letters import dead_letter_headers, dead_letter_value
from usageflow.config import KafkaSettings, TopicSettings
from usageflow.errors import BrokerError, ValidationFailure
from usageflow.schemas.columnar import account_ids
from usageflow.schemas.decode import decode_event
from usageflow.schemas.event_time import TimeWindow, default_event_time_range
from usageflow.schemas.provider_event import PROVIDER_FIELD, USAGE_FIELD, convert_line, with_provider_usage

CHUNK_LINES = 1000  # lines validated together (and how often progress is reported)
SETTLE_BYTES = 64 * 1024 * 1024  # lines held (to name the ones Kafka refuses) before waiting for Kafka's answers


@dataclass
class PublishReport:
    """Every non-blank line is either published or rejected: `published + rejected == lines`."""

    lines: int = 0
    published: int = 0
    rejected: int = 0
    rejections: list[tuple[int, str, str]] = field(default_factory=list)  # (line, reason, message)

    def reject(self, number: int, reason: str, message: str) -> None:
        self.rejected += 1
        self.rejections.append((number, reason, message))


class Publisher:
    """acks=all, idempotence on, lz4: a retried send never duplicates a record in Kafka.

    Kafka reports only failed deliveries (`delivery.report.only.error`): a report per
    acknowledged record is a Python call and a message object each, which cost `publish_lines`
    more than validating the line. `report_each_delivery=True` (dead-letter replay, which needs
    the offset each copy landed at) has every `on_delivery` callback called for successes too."""

    def __init__(self, kafka: KafkaSettings, topics: TopicSettings, report_each_delivery: bool = False) -> None:
        self.topics = topics
        self._failures: list[tuple[Any, Any]] = []  # (error, message) of deliveries Kafka refused
        self._producer = Producer(
            {
                **kafka.confluent_config(),
                "enable.idempotence": True,
                "acks": "all",
                "compression.type": "lz4",
                "linger.ms": 20,
                "batch.num.messages": 10_000,
                "queue.buffering.max.messages": 500_000,
                "delivery.report.only.error": not report_each_delivery,
                "on_delivery": self._on_delivery,  # for every record sent without a callback of its own
            }
        )

    @classmethod
    def connect(cls) -> Publisher:
        return cls(KafkaSettings(), TopicSettings())

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object | TracebackType | None) -> None:
        self.flush()

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None:
            self._failures.append((err, msg))

    def send(self, topic: str, key: bytes | None, value: bytes | None, **kw: Any) -> None:
        """Queue one record (KafkaException if librdkafka refuses it at once, e.g. too large)."""
        while True:
            try:
                self._producer.produce(topic, key=key, value=value, **kw)
                return
            except BufferError:
                self._producer.poll(0.1)

    def publish_event(self, event: Mapping[str, Any], provider_usage: Any = None, provider: str | None = None) -> None:
        """Validate and send one UsageEvent v1 (raises ValidationFailure if it breaks the contract).
        `provider_usage` — the provider's usage object, its whole response, the final chunk or
        the chunks of a stream (dicts, or the SDKs' pydantic objects) — sets the token counts;
        `provider` (openai | anthropic | dashscope) says whose it is (docs/events.md §2). The
        event may carry both as fields instead."""
        if provider_usage is not None:
            given = {**event, USAGE_FIELD: _plain(provider_usage)}
            if provider is not None:
                given[PROVIDER_FIELD] = provider
            event = given
        elif provider is not None:
            raise ValidationFailure("schema", "provider_usage: a provider was named but no provider_usage given")
        if event.get(USAGE_FIELD) is not None:
            event = with_provider_usage(event)
        raw = orjson.dumps(event)
        parsed = decode_event(raw)
        self.send(self.topics.events, parsed.account_id.encode(), raw)

    def publish_lines(
        self,
        lines: Iterable[bytes],
        source: str,
        on_progress: Callable[[int], None] | None = None,
    ) -> PublishReport:
        """Send JSON lines. A line that breaks the contract, or that Kafka refuses (too large for a
        record), is not sent as an event: it goes to the dead-letter topic (source = file name,
        offset = line number) and is counted rejected. A line counts as published once Kafka has
        acknowledged it."""
        report = PublishReport()
        sent = _SentLines()
        produce, poll, topic = self._producer.produce, self._producer.poll, self.topics.events

        def dead_letter(number: int, raw: bytes, reason: str, message: str) -> None:
            report.reject(number, reason, message)
            key = _guess_key(raw)
            value = dead_letter_value(reason, message, raw, source, -1, number, key)
            self.send(self.topics.dlq, key, value, headers=dead_letter_headers(reason))

        window = default_event_time_range().window()
        for chunk, last in _numbered_chunks(lines):
            converted, verdicts = _judged(chunk, window)
            unsent: list[int] = []
            for (number, _), line, verdict in zip(chunk, converted, verdicts, strict=True):
                if isinstance(verdict, ValidationFailure):
                    dead_letter(number, line, verdict.reason, verdict.message)
                    continue
                key = verdict.encode()
                while True:  # `send`'s loop, inlined: its keyword call costs ~0.5 µs a line more
                    try:
                        produce(topic, line, key)
                        break
                    except BufferError:
                        poll(0.1)
                    except KafkaException as exc:
                        unsent.append(number)
                        dead_letter(number, line, "unsendable", f"Kafka refused the record: {_kafka_error(exc)}")
                        break
            report.lines += len(chunk)
            sent.add(chunk, converted, verdicts, unsent)
            if last % CHUNK_LINES == 0:
                poll(0)
                if on_progress:
                    on_progress(last)
            if sent.size >= SETTLE_BYTES:
                self._settle(sent, report, dead_letter)
        self._settle(sent, report, dead_letter)
        self.flush()
        report.rejections.sort()
        return report

    def _settle(
        self, sent: _SentLines, report: PublishReport, dead_letter: Callable[[int, bytes, str, str], None]
    ) -> None:
        """Wait until Kafka has answered every line sent; the lines it refused are sent alone."""
        remaining = self._producer.flush(60.0)
        if remaining:
            raise BrokerError(f"{remaining} records were not acknowledged by Kafka within 60s")
        topic = self.topics.events
        ours: list[tuple[Any, Any]] = []
        others: list[tuple[Any, Any]] = []  # any other failure stays, for flush to raise
        for err, msg in self._failures:
            (ours if msg.topic() == topic and sent.holds(msg.value()) else others).append((err, msg))
        self._failures = others
        lost = sent.numbered([(msg.key(), msg.value()) for _, msg in ours])
        report.published += sent.count - len(lost)
        sent.clear()
        self._resend_alone(lost, report, dead_letter)

    def _resend_alone(
        self,
        refused: list[tuple[int, bytes | None, bytes]],
        report: PublishReport,
        dead_letter: Callable[[int, bytes, str, str], None],
    ) -> None:
        """A broker refuses a whole batch when one record in it is too large: send each refused
        line again on its own, and dead-letter (`unsendable`) only those refused alone too."""
        for number, key, raw in refused:
            outcome: list[Any] = []
            try:
                self.send(self.topics.events, key, raw, on_delivery=lambda err, _msg, seen=outcome: seen.append(err))
                remaining = self._producer.flush(60.0)
            except KafkaException as exc:
                outcome, remaining = [_kafka_error(exc)], 0
            if not remaining and all(err is None for err in outcome):  # success is reported only on request
                report.published += 1
            else:
                error = next((err for err in outcome if err is not None), "not acknowledged")
                dead_letter(number, raw, "unsendable", f"Kafka refused the record: {error}")

    def publish_account(self, account_id: str, value: bytes | None) -> None:
        self.send(self.topics.accounts, account_id.encode(), value)

    def flush(self, timeout: float = 60.0) -> None:
        remaining = self._producer.flush(timeout)
        if remaining:
            raise BrokerError(f"{remaining} records were not acknowledged by Kafka within {timeout:.0f}s")
        if self._failures:
            first = self._failures[0][0]
            self._failures.clear()
            raise BrokerError(f"Kafka refused records: {first}")


def _plain(value: Any) -> Any:
    """SDK response objects (pydantic models) as plain JSON values."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    dump = getattr(value, "model_dump", None)
    return dump() if callable(dump) else value


def _judged(chunk: list[tuple[int, bytes]], window: TimeWindow) -> tuple[list[bytes], list[str | ValidationFailure]]:
    """The chunk's lines as they are sent, and each one's account id (its key) or why it is
    refused. A provider's usage becomes the counts first (docs/events.md §2); from then on the
    converted event is the line, in the events topic and in a dead letter alike, so that
    `usageflow dlq replay` re-publishes something the worker can bill."""
    converted: list[bytes] = []
    refused_usage: dict[int, ValidationFailure] = {}
    for n, (_, raw) in enumerate(chunk):
        try:
            converted.append(convert_line(raw))
        except ValidationFailure as exc:
            refused_usage[n] = exc
            converted.append(raw)
    verdicts = account_ids(converted, window)
    for n, failure in refused_usage.items():
        verdicts[n] = failure
    return converted, verdicts


class _SentLines:
    """The lines sent to the events topic since Kafka last answered every one, kept as the chunks
    they were sent in (no work per line): searched only for the lines Kafka refuses."""

    def __init__(self) -> None:
        self._chunks: list[tuple[list[tuple[int, bytes]], list[bytes], list[Any], list[int]]] = []
        self._values: set[bytes] | None = None  # every line held, built when first searched
        self.count = 0  # lines sent
        self.size = 0  # their bytes

    def add(self, chunk: list[tuple[int, bytes]], lines: list[bytes], verdicts: list[Any], unsent: list[int]) -> None:
        """A chunk's (number, line as read), lines as sent, verdicts (a key: sent unless its
        number is in `unsent`)."""
        self._chunks.append((chunk, lines, verdicts, unsent))
        self._values = None
        sent = [line for line, verdict in zip(lines, verdicts, strict=True) if type(verdict) is str]
        self.count += len(sent) - len(unsent)
        self.size += sum(map(len, sent))

    def holds(self, value: bytes) -> bool:
        if self._values is None:
            self._values = {line for _, lines, _, _ in self._chunks for line in lines}
        return value in self._values

    def numbered(self, refused: list[tuple[bytes | None, bytes]]) -> list[tuple[int, bytes | None, bytes]]:
        """(line number, key, value) of each refused record. Copies of one line share a key, so a
        partition, whose records Kafka answers in the order they were sent: the n-th refusal of
        some bytes is their n-th copy sent."""
        if not refused:
            return []
        wanted = {value for _, value in refused}
        numbers: dict[bytes, list[int]] = {}
        for chunk, lines, verdicts, unsent in self._chunks:
            skip = set(unsent)
            for (number, _), line, verdict in zip(chunk, lines, verdicts, strict=True):
                if line in wanted and type(verdict) is str and number not in skip:
                    numbers.setdefault(line, []).append(number)
        return [(numbers[value].pop(0), key, value) for key, value in refused]

    def clear(self) -> None:
        self._chunks.clear()
        self._values = None
        self.count = self.size = 0


def _numbered_chunks(lines: Iterable[bytes]) -> Iterator[tuple[list[tuple[int, bytes]], int]]:
    """The non-blank lines (without their line end) with their 1-based line numbers, in
    chunks that end at every CHUNK_LINES-th line; and the number of the last line read."""
    chunk: list[tuple[int, bytes]] = []
    number = 0
    for number, line in enumerate(lines, start=1):  # number is used after the loop
        raw = line.rstrip(b"\r\n")
        if raw.strip():
            chunk.append((number, raw))
        if number % CHUNK_LINES == 0:
            yield chunk, number
            chunk = []
    if chunk:
        yield chunk, number


def _guess_key(raw: bytes) -> bytes | None:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    account = data.get("account_id") if isinstance(data, dict) else None
    return account.encode() if isinstance(account, str) and len(account) <= 128 else None


def _kafka_error(exc: KafkaException) -> str:
    error = exc.args[0] if exc.args else exc
    return str(error.str() if hasattr(error, "str") else error)


def publish_raw(producer: Publisher, topic: str, key: bytes | None, value: bytes) -> None:
    """Send pre-built bytes (used when replaying dead letters)."""
    try:
        producer.send(topic, key, value)
    except KafkaException as exc:
        raise BrokerError(str(exc)) from exc
