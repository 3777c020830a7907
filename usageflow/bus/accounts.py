"""The account directory: every worker's full, live copy of the compacted `usage.accounts` topic.

A plain consumer with no group reads every partition from the beginning, so every worker sees
every account (Faust's GlobalTable is not relied on: it misses updates with several workers).
"""

from __future__ import annotations

import logging
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from usageflow.config import KafkaSettings
from usageflow.errors import BrokerError, ValidationFailure
from usageflow.schemas import Account
from usageflow.schemas.decode import decode_account

log = logging.getLogger(__name__)


class AccountDirectory:
    """Thread-safe account look-up kept current from Kafka; changes are queued for the warehouse."""

    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        self._kafka = kafka
        self._topic = topic
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
                self._apply(msg.key(), msg.value())
        except Exception:
            log.exception("account directory stopped")
            time.sleep(0)
        finally:
            consumer.close()

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            if key:
                account_id = key.decode("utf-8", "replace")
                with self._lock:
                    self._accounts.pop(account_id, None)
                    self._pending[account_id] = None
            return
        try:
            account = decode_account(value)
        except ValidationFailure as exc:
            log.warning("ignoring invalid account record: %s", exc.message)
            return
        with self._lock:
            self._accounts[account.account_id] = account
            self._pending[account.account_id] = account
