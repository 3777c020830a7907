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
from usageflow.schemas.columnar import EventRecord, decode_batch
from usageflow.schemas.decode import decode_event
from usageflow.schemas.event_time import default_event_time_range
from usageflow.schemas.provider_event import PROVIDER_FIELD, USAGE_FIELD, convert_line, with_provider_usage

CHUNK_LINES = 1000  # lines validated together (and how often progress is reported)


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
    """acks=all, idempotence on, lz4: a retried send never duplicates a record in Kafka."""

    def __init__(self, kafka: KafkaSettings, topics: TopicSettings) -> None:
        self.topics = topics
        self._errors: list[str] = []
        self._producer = Producer(
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

    @classmethod
    def connect(cls) -> Publisher:
        return cls(KafkaSettings(), TopicSettings())

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object | TracebackType | None) -> None:
        self.flush()

    def _on_delivery(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self._errors.append(str(err))

    def send(self, topic: str, key: bytes | None, value: bytes | None, **kw: Any) -> None:
        """Queue one record (KafkaException if librdkafka refuses it at once, e.g. too large)."""
        kw.setdefault("on_delivery", self._on_delivery)
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
        refused: list[tuple[int, bytes, bytes]] = []  # (line, key, raw) Kafka refused, from callbacks
        # One callback for every line: a closure per line (tracked by the garbage collector and
        # alive until Kafka answers) cost more in collections than the send itself. A line in
        # flight is found by its bytes; copies of one line share a key, so a partition, whose
        # records Kafka answers in the order they were sent.
        in_flight: dict[bytes, int | list[int]] = {}

        def on_delivery(err: Any, msg: Any) -> None:
            raw = msg.value()
            number = _release(in_flight, raw)
            if err is None:
                report.published += 1
            else:
                refused.append((number, msg.key(), raw))

        def dead_letter(number: int, raw: bytes, reason: str, message: str) -> None:
            report.reject(number, reason, message)
            key = _guess_key(raw)
            value = dead_letter_value(reason, message, raw, source, -1, number, key)
            self.send(self.topics.dlq, key, value, headers=dead_letter_headers(reason))

        for chunk, last in _numbered_chunks(lines):
            # A provider's usage becomes the counts first (docs/events.md §2); from then on the
            # converted event is the line, in the events topic and in a dead letter alike, so
            # that `usageflow dlq replay` re-publishes something the worker can bill.
            converted: list[bytes] = []
            refused_usage: dict[int, ValidationFailure] = {}
            for n, (_, raw) in enumerate(chunk):
                try:
                    converted.append(convert_line(raw))
                except ValidationFailure as exc:
                    refused_usage[n] = exc
                    converted.append(raw)
            judged = validate_lines(converted)
            for n, ((number, _), line, verdict) in enumerate(zip(chunk, converted, judged, strict=True)):
                report.lines += 1
                event = refused_usage.get(n, verdict)
                if isinstance(event, ValidationFailure):
                    dead_letter(number, line, event.reason, event.message)
                    continue
                key = event.account_id.encode()
                try:
                    self.send(self.topics.events, key, line, on_delivery=on_delivery)
                except KafkaException as exc:
                    dead_letter(number, line, "unsendable", f"Kafka refused the record: {_kafka_error(exc)}")
                else:
                    _hold(in_flight, line, number)  # callbacks run in poll and flush: not before this
            if last % CHUNK_LINES == 0:
                self._producer.poll(0)
                if on_progress:
                    on_progress(last)
        self._producer.flush(60.0)
        self._resend_alone(refused, report, dead_letter)
        self.flush()
        report.rejections.sort()
        return report

    def _resend_alone(
        self,
        refused: list[tuple[int, bytes, bytes]],
        report: PublishReport,
        dead_letter: Callable[[int, bytes, str, str], None],
    ) -> None:
        """A broker refuses a whole batch when one record in it is too large: send each refused
        line again on its own, and dead-letter (`unsendable`) only those refused alone too."""
        for number, key, raw in refused:
            outcome: list[Any] = []
            try:
                self.send(self.topics.events, key, raw, on_delivery=lambda err, _msg, seen=outcome: seen.append(err))
                self._producer.flush(60.0)
            except KafkaException as exc:
                outcome = [_kafka_error(exc)]
            if outcome and outcome[0] is None:
                report.published += 1
            else:
                error = outcome[0] if outcome else "not acknowledged"
                dead_letter(number, raw, "unsendable", f"Kafka refused the record: {error}")
        refused.clear()

    def publish_account(self, account_id: str, value: bytes | None) -> None:
        self.send(self.topics.accounts, account_id.encode(), value)

    def flush(self, timeout: float = 60.0) -> None:
        remaining = self._producer.flush(timeout)
        if remaining:
            raise BrokerError(f"{remaining} records were not acknowledged by Kafka within {timeout:.0f}s")
        if self._errors:
            first = self._errors[0]
            self._errors.clear()
            raise BrokerError(f"Kafka refused records: {first}")


def _plain(value: Any) -> Any:
    """SDK response objects (pydantic models) as plain JSON values."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    dump = getattr(value, "model_dump", None)
    return dump() if callable(dump) else value


def validate_lines(raws: list[bytes]) -> list[EventRecord | ValidationFailure]:
    """Each line as `decode_event` judges it (the same reasons and messages), checked together
    by the columnar validator, with the event-time range as of now."""
    return decode_batch(raws, default_event_time_range().window()).results


def _hold(in_flight: dict[bytes, int | list[int]], raw: bytes, number: int) -> None:
    """Note line `number` as sent with these bytes (after any earlier copy of them)."""
    held = in_flight.get(raw)
    if held is None:
        in_flight[raw] = number
    elif isinstance(held, list):
        held.append(number)
    else:
        in_flight[raw] = [held, number]


def _release(in_flight: dict[bytes, int | list[int]], raw: bytes) -> int:
    """The line number of the earliest copy of these bytes in flight, which Kafka just answered."""
    held = in_flight.pop(raw)
    if isinstance(held, int):
        return held
    first = held.pop(0)
    in_flight[raw] = held if len(held) > 1 else held[0]
    return first


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
