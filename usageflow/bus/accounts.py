"""The account directory: every worker's full, live copy of the compacted `usage.accounts` topic.

A plain consumer with no group reads every partition from the beginning, so every worker sees
every account (Faust's GlobalTable is not relied on: it misses updates with several workers).

A record that is not a valid Account, or whose key is not its `account_id`, is rejected whole
(the account keeps its last valid version) and goes to the dead-letter topic with reason
`invalid_account` and the accounts topic as its source: it never reaches the warehouse copy, so
it can neither block the account sink nor a worker's start. Every worker reads the whole topic
at each start, so such a record is dead-lettered again each time; `usageflow dlq list` shows
the copies of one source record as one entry.
"""

from __future__ import annotations

import logging
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from usageflow.bus.dead_letters import dead_letter_headers, dead_letter_value
from usageflow.config import KafkaSettings, TopicSettings
from usageflow.errors import BrokerError, ValidationFailure
from usageflow.schemas import Account
from usageflow.schemas.common import IDENTIFIER
from usageflow.schemas.decode import decode_account

log = logging.getLogger(__name__)


class AccountDirectory:
    """Thread-safe account look-up kept current from Kafka; changes are queued for the warehouse."""

    def __init__(self, kafka: KafkaSettings, topic: str, dead_letter_topic: str | None = None) -> None:
        self._kafka = kafka
        self._topic = topic
        self._dlq_topic = dead_letter_topic or sibling_dead_letter_topic(topic)
        self._producer: Producer | None = None
        self.rejected = 0
        self._accounts: dict[str, Account] = {}
        self._pending: dict[str, Account | None] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._caught_up = threading.Event()
        self._thread: threading.Thread | None = None

    def get(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    def snapshot(self) -> dict[str, Account]:
        with self._lock:
            return dict(self._accounts)

    def drain_changes(self) -> tuple[list[Account], list[str]]:
        """Accounts changed (and ids deleted) since the last call, for the warehouse copy."""
        with self._lock:
            pending, self._pending = self._pending, {}
        upserts = [a for a in pending.values() if a is not None]
        deleted = [k for k, a in pending.items() if a is None]
        return upserts, deleted

    def start(self, wait_s: float = 30.0) -> None:
        """Start following the topic; return once everything published before now is loaded."""
        self._thread = threading.Thread(target=self._run, name="account-directory", daemon=True)
        self._thread.start()
        if not self._caught_up.wait(wait_s):
            raise BrokerError(f"could not load accounts from {self._topic} within {wait_s:.0f}s")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._producer is not None:
            left = self._producer.flush(10)
            if left:
                log.warning("account directory: %d dead letter(s) not acknowledged at shutdown", left)

    def _run(self) -> None:
        consumer = Consumer(
            {
                **self._kafka.confluent_config(),
                "group.id": "usageflow-account-directory",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
        try:
            meta = consumer.list_topics(self._topic, timeout=15)
            partitions = list(meta.topics[self._topic].partitions) if self._topic in meta.topics else []
            if not partitions:
                self._caught_up.set()
                return
            consumer.assign([TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in partitions])
            at_eof: set[int] = set()
            while not self._stop.is_set():
                msg = consumer.poll(0.2)
                if msg is None:
                    continue
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        at_eof.add(msg.partition() or 0)
                        if len(at_eof) == len(partitions):
                            self._caught_up.set()
                    else:
                        log.warning("account directory: %s", error)
                    continue
                self._apply(msg)
        except Exception:
            log.exception("account directory stopped")
            time.sleep(0)
        finally:
            consumer.close()

    def _apply(self, msg: Message) -> None:
        key, value = msg.key(), msg.value()
        if value is None:
            account_id = key.decode("utf-8", "replace") if key else ""
            if IDENTIFIER.fullmatch(account_id):  # any other key cannot name an account
                with self._lock:
                    self._accounts.pop(account_id, None)
                    self._pending[account_id] = None
            return
        try:
            account = decode_account(value)
            if key != account.account_id.encode():
                shown = key.decode("utf-8", "replace")[:128] if key is not None else None
                raise ValidationFailure(
                    "invalid_account", f"record key {shown!r} is not its account_id {account.account_id!r}"
                )
        except ValidationFailure as exc:
            self._dead_letter(msg, exc)
            return
        with self._lock:
            self._accounts[account.account_id] = account
            self._pending[account.account_id] = account

    def _dead_letter(self, msg: Message, exc: ValidationFailure) -> None:
        """Never raises: a dead letter that cannot be sent is logged, the directory goes on."""
        self.rejected += 1
        log.warning("invalid account record at %s[%s]@%s: %s", self._topic, msg.partition(), msg.offset(), exc.message)
        key = msg.key()
        value = dead_letter_value(
            exc.reason, exc.message, msg.value(), self._topic, msg.partition() or 0, msg.offset() or 0, key
        )
        try:
            if self._producer is None:
                self._producer = Producer({**self._kafka.confluent_config(), "enable.idempotence": True, "acks": "all"})
            headers: list[tuple[str, str | bytes | None]] = list(dead_letter_headers(exc.reason))
            self._producer.produce(self._dlq_topic, key=key, value=value, headers=headers)
            self._producer.poll(0)
        except (KafkaException, BufferError) as err:
            log.error("account directory: could not dead-letter an invalid account record: %s", err)


def sibling_dead_letter_topic(accounts_topic: str) -> str:
    """The dead-letter topic of the same topic prefix as `accounts_topic`."""
    base = TopicSettings(topic_prefix="")
    if accounts_topic.endswith(base.accounts):
        return TopicSettings(topic_prefix=accounts_topic[: -len(base.accounts)]).dlq
    return TopicSettings().dlq
