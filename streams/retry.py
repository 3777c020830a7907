"""How the pipeline waits out a warehouse outage: back-off while it heals, never forever on
anything else, and never past a shutdown request."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from confluent_kafka import KafkaException

from usageflow.errors import BrokerError, UsageflowError, WarehouseError
from usageflow.streams.heap import collect_young

log = logging.getLogger(__name__)
T = TypeVar("T")


class StopRequested(UsageflowError):
    """The worker was told to stop while the warehouse was still failing: the batch in hand is
    not stored, and its offsets must not be committed (a restart reads it again)."""


class RetryPolicy:
    """Retry outages (`WarehouseError.healable`, a broker away) with exponential back-off until they heal or the
    worker stops; retry any other error `fatal_attempts` times in all, then raise it. Data
    errors (`kind == "data"`) are raised at once: the caller decides what to do with the rows.

    `failing_since` (Unix time of the first failure of the current outage, or None) is what
    `/health`, `/status` and the metrics report."""

    def __init__(
        self,
        stop: threading.Event,
        first_delay_s: float = 0.5,
        max_delay_s: float = 30.0,
        fatal_attempts: int = 3,
    ) -> None:
        self.stop = stop
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.fatal_attempts = fatal_attempts
        self.failing_since: float | None = None

    def call(self, what: str, work: Callable[[], T]) -> T:
        delay = self.first_delay_s
        attempts = 0
        while True:
            try:
                value = work()
            except (WarehouseError, BrokerError, KafkaException) as exc:
                if isinstance(exc, WarehouseError) and exc.kind == "data":
                    raise
                attempts += 1
                healable = not isinstance(exc, WarehouseError) or exc.healable  # a broker away heals
                if isinstance(exc, WarehouseError):
                    self.failing_since = self.failing_since or time.time()
                if not healable and attempts >= self.fatal_attempts:
                    raise
                if self.stop.is_set():
                    raise StopRequested(f"{what}: warehouse still failing at shutdown ({exc})") from exc
                log.warning("%s failed, retrying in %.1fs: %s", what, delay, exc)
                collect_young()  # a batch's collector is paused (usageflow.streams.heap)
                if self.stop.wait(delay):
                    raise StopRequested(f"{what}: warehouse still failing at shutdown ({exc})") from exc
                delay = min(delay * 2, self.max_delay_s)
                continue
            self.failing_since = None
            return value
