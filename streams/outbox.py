"""What a batch sends to Kafka besides its events: dead letters and alerts, acknowledged by the
broker (acks=all, idempotent) before the pipeline moves on."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from usageflow.config import KafkaSettings
from usageflow.errors import BrokerError
from usageflow.streams.retry import StopRequested

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


class KafkaOutbox:
    """Sends records and waits until the broker has acknowledged every one of them. A record the
    broker refuses for a reason that heals (broker away, leader moving) is sent again until it
    is acknowledged or the worker stops; one it can never take (too large, no such topic) raises
    BrokerError: losing a dead letter or an alert silently is not an option."""

    def __init__(self, kafka: KafkaSettings, stop: threading.Event, max_request_bytes: int = 8 * 1024 * 1024) -> None:
        self.stop = stop
        self._producer = Producer(
            {
                **kafka.confluent_config(),
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "compression.type": "lz4",
                "message.max.bytes": max_request_bytes,
                "message.timeout.ms": 30_000,
                # only failures matter here; a report per acknowledged record cost a Python
                # callback each (~1.5 µs an event at ~2.3 window records per event)
                "delivery.report.only.error": True,
            }
        )

    def send_and_wait(self, records: list[OutgoingRecord]) -> None:
        pending = list(records)
        while pending:
            failed: list[tuple[OutgoingRecord, KafkaError]] = []
            for record in pending:
                self._produce(record, failed)
            self._producer.flush()
            permanent = [(r, e) for r, e in failed if not _retriable(e)]
            if permanent:
                record, error = permanent[0]
                raise BrokerError(f"the broker refused a record for {record.topic}: {error.str()}")
            pending = [r for r, _ in failed]
            if pending:
                log.warning("%d record(s) not acknowledged, sending again: %s", len(pending), failed[0][1].str())
                if self.stop.wait(0.5):
                    raise StopRequested("stopping while the broker did not acknowledge dead letters or alerts")

    def send_keyed_and_wait(self, topic: str, records: list[tuple[bytes, bytes]]) -> None:
        """`send_and_wait` for many records of one topic with distinct keys (window revisions):
        one delivery callback for all of them, since a closure per record costs more than the
        send itself at tens of thousands of records a batch."""
        pending = records
        while pending:
            failed: dict[bytes, KafkaError] = {}

            def delivered(error: KafkaError | None, message: Any, failed: dict[bytes, KafkaError] = failed) -> None:
                if error is not None:
                    failed[message.key()] = error

            for key, value in pending:
                while True:
                    try:
                        self._producer.produce(topic, value=value, key=key, on_delivery=delivered)
                        break
                    except BufferError:
                        self._producer.poll(0.1)
                    except KafkaException as exc:  # refused before sending (e.g. too large)
                        failed[key] = exc.args[0]
                        break
            self._producer.flush()
            permanent = [e for e in failed.values() if not _retriable(e)]
            if permanent:
                raise BrokerError(f"the broker refused a record for {topic}: {permanent[0].str()}")
            pending = [(k, v) for k, v in pending if k in failed]
            if pending:
                log.warning("%d record(s) not acknowledged, sending again", len(pending))
                if self.stop.wait(0.5):
                    raise StopRequested(f"stopping while the broker did not acknowledge records for {topic}")

    def close(self) -> None:
        self._producer.flush(10)

    def _produce(self, record: OutgoingRecord, failed: list[tuple[OutgoingRecord, KafkaError]]) -> None:
        def delivered(error: KafkaError | None, _message: Any) -> None:
            if error is not None:
                failed.append((record, error))

        while True:
            try:
                self._producer.produce(
                    record.topic,
                    value=record.value,
                    key=record.key,
                    headers=list(record.headers),
                    on_delivery=delivered,
                )
                return
            except BufferError:
                self._producer.poll(0.1)
            except KafkaException as exc:  # refused before sending (e.g. larger than the broker takes)
                failed.append((record, exc.args[0]))
                return


def _retriable(error: KafkaError) -> bool:
    return bool(error.retriable()) or error.code() in (KafkaError._MSG_TIMED_OUT, KafkaError._TRANSPORT)
