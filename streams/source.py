"""The events topic, read in batches: one confluent-kafka consumer on one thread of its own.

Faust's own consumer hands records to an agent one at a time: a no-op agent reads ~4,200
records/s on the 2-core reference machine, half of what the rating path itself can do. This
source reads whole batches (`Consumer.consume`, C code in librdkafka) and the Faust agent gets
one batch per message, so the per-record cost is only usageflow's own work.

Protocol, all on the consumer thread, one step at a time:

1. `poll` returns up to `max_rows` records: it waits up to `idle_s` for the first, then at most
   `linger_s` more for the batch to fill (an event waits at most `linger_s` for its batch).
2. The caller stores the batch (warehouse, dead letters, alerts) and only then calls `commit`.
3. A rebalance happens inside `poll`, so never while a batch is in flight: everything handed
   out before it was stored and its offsets are committed in `on_revoke` before the partitions
   go. `take_reassigned` tells the caller that the assignment changed (the live alert state is
   then restored from the warehouse: another worker may have moved some accounts on).

A commit that fails (broker away, group rebalancing) is kept and retried with the next one;
records whose commit was lost are delivered again and dropped as already stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from usageflow.config import KafkaSettings, PathSettings, StreamSettings
from usageflow.ingest.batch import RawRecord

log = logging.getLogger(__name__)


def consumer_config(kafka: KafkaSettings, group: str, instance_id: str | None = None) -> dict[str, Any]:
    """With `instance_id`, static membership (`group.instance.id`): a worker that restarts, after
    a crash or a SIGKILL, takes its partitions back at once instead of waiting for the dead
    member's session to expire, and the other workers see no rebalance. Offsets are still
    committed only after a batch is stored, so exactly-once is unchanged (a restarted member
    re-reads what the dead one had not committed, and the warehouse drops what it holds). The
    id must differ between workers of one group: a second consumer with the same id fences the
    first. It is opt-in (`USAGEFLOW_STREAM_STATIC_MEMBERSHIP`): librdkafka treats a fenced static
    member as a fatal error, which a broker outage longer than the session can cause; the source
    then builds a new consumer (below), but the fault suite was measured without it."""
    config = {
        **kafka.confluent_config(),
        "group.id": group,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        # A member that is gone for good (or closed: a static member does not leave the group
        # on close) holds its partitions until its session expires: keep that short.
        "session.timeout.ms": 10_000,
        "heartbeat.interval.ms": 2_000,
        "fetch.max.bytes": 64 * 1024 * 1024,
        "queued.max.messages.kbytes": 256 * 1024,
    }
    if instance_id:
        config["group.instance.id"] = instance_id
    return config


def default_instance_id(group: str, stream: StreamSettings | None = None, paths: PathSettings | None = None) -> str:
    """`USAGEFLOW_STREAM_INSTANCE_ID` if set; else derived from what tells this worker's
    processes apart: the host, the data directory and the HTTP endpoint (two workers on one host
    cannot share an endpoint). The same worker restarted with the same settings gets the same id."""
    stream = stream or StreamSettings()
    if stream.instance_id:
        return stream.instance_id
    paths = paths or PathSettings()
    host = socket.gethostname() or "localhost"
    where = f"{host}\n{paths.data_dir.resolve()}\n{stream.http_host}:{stream.http_port}"
    digest = hashlib.sha256(where.encode()).hexdigest()[:16]
    return f"{group}-{host[:64]}-{digest}"


class BatchSource:
    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        group: str,
        max_rows: int,
        linger_s: float,
        idle_s: float = 0.5,
        instance_id: str | None = None,
    ) -> None:
        self.topic = topic
        self.max_rows = max_rows
        self.linger_s = linger_s
        self.idle_s = idle_s
        # Every consumer call on one thread: librdkafka runs rebalance callbacks in the caller.
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="usageflow-events")
        self._config = consumer_config(kafka, group, instance_id)
        self._consumer: Consumer | None = None
        self._pending: dict[int, int] = {}  # partition -> next offset, stored but not committed
        self._reassigned = False
        self._fatal = False
        self.assigned: set[int] = set()

    # --- consumer thread -----------------------------------------------------------------------

    def open(self) -> None:
        consumer = Consumer(self._config)
        consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)
        self._consumer = consumer

    def poll(self) -> list[RawRecord]:
        consumer = self._require()
        # `consume(n, t)` returns at n messages or after t: ask for one first so that a quiet
        # stream is not held for the whole idle wait, then let the batch fill for `linger_s`.
        messages = consumer.consume(1, timeout=self.idle_s)
        if messages:
            deadline = time.monotonic() + self.linger_s
            while len(messages) < self.max_rows and (left := deadline - time.monotonic()) > 0:
                messages.extend(consumer.consume(self.max_rows - len(messages), timeout=left))
        records = self._records(messages)
        if self._fatal:
            self._renew()
        return records

    def commit(self, next_offsets: dict[int, int]) -> bool:
        """Commit (with any earlier commit that failed); False if it has to wait for the next."""
        for partition, offset in next_offsets.items():
            if partition in self.assigned and offset > self._pending.get(partition, -1):
                self._pending[partition] = offset
        return self._commit_pending()

    def close(self) -> None:
        if self._consumer is None:
            return
        self._commit_pending()
        try:
            self._consumer.close()  # leaves the group now instead of after the session timeout
        except (KafkaException, RuntimeError) as exc:
            log.warning("closing the events consumer: %s", exc)
        self._consumer = None

    # --- any thread ----------------------------------------------------------------------------

    def take_reassigned(self) -> bool:
        """Whether partitions were assigned or taken away since the last call."""
        changed, self._reassigned = self._reassigned, False
        return changed

    # --- internals -----------------------------------------------------------------------------

    def _require(self) -> Consumer:
        if self._consumer is None:
            raise RuntimeError("BatchSource.open() was not called")
        return self._consumer

    def _records(self, messages: list[Message]) -> list[RawRecord]:
        records: list[RawRecord] = []
        for m in messages:
            error = m.error()
            if error is not None:
                if error.fatal():
                    self._fatal = True
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("events consumer: %s", error)
                continue
            records.append(
                RawRecord(m.key(), m.value() or b"", m.topic() or self.topic, m.partition() or 0, m.offset() or 0)
            )
        return records

    def _renew(self) -> None:
        """A fatal consumer error (e.g. a fenced static member) leaves the consumer unusable:
        build a new one. Offsets not committed yet are read again and dropped as stored."""
        log.warning("events consumer hit a fatal error: starting a new consumer")
        with contextlib.suppress(KafkaException, RuntimeError):
            self._require().close()
        self._consumer = None
        self._fatal = False
        self._pending.clear()
        self.assigned.clear()
        self._reassigned = True
        self.open()

    def _commit_pending(self) -> bool:
        offsets = [TopicPartition(self.topic, p, o) for p, o in self._pending.items() if p in self.assigned]
        if not offsets:
            self._pending.clear()
            return True
        try:
            self._require().commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.fatal():
                self._fatal = True  # the next poll builds a new consumer
            log.warning("offset commit failed, retried with the next batch: %s", error or exc)
            return False
        self._pending.clear()
        return True

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned.update(tp.partition for tp in partitions)
        self._reassigned = True
        log.info("events partitions assigned: %s", sorted(tp.partition for tp in partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._commit_pending()
        self._drop(partitions)
        log.info("events partitions revoked: %s", sorted(tp.partition for tp in partitions))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._drop(partitions)
        log.warning("events partitions lost: %s", sorted(tp.partition for tp in partitions))

    def _drop(self, partitions: list[TopicPartition]) -> None:
        gone = {tp.partition for tp in partitions}
        self.assigned -= gone
        for partition in gone:
            self._pending.pop(partition, None)
        self._reassigned = True
