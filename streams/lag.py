"""Consumer lag and throughput for `usageflow status` and the metrics endpoint."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import KafkaException

from usageflow.bus.admin import committed_offsets, end_offsets
from usageflow.config import KafkaSettings
from usageflow.errors import BrokerError


class LagProbe:
    def __init__(self, kafka: KafkaSettings, topic: str, group: str) -> None:
        self.kafka = kafka
        self.topic = topic
        self.group = group
        self.lag: dict[int, int] = {}
        self.rate = 0.0
        self._last: tuple[float, int] | None = None

    def offsets(self) -> tuple[dict[int, int], dict[int, int]]:
        """(end offsets, the group's committed offsets) of the events topic."""
        try:
            ends = end_offsets(self.kafka, self.topic, timeout=5.0)
            return ends, committed_offsets(self.kafka, self.group, self.topic, list(ends))
        except (BrokerError, KafkaException):
            return {}, {}

    def update(self, state: Any, ends: dict[int, int], committed: dict[int, int]) -> None:
        """Lag of the whole consumer group: end offset minus committed offset, per partition."""
        self.lag = {p: max(0, end - committed.get(p, 0)) for p, end in ends.items()}
        for partition, lag in self.lag.items():
            state.metrics.lag.labels(str(partition)).set(lag)
        now, consumed = time.monotonic(), state.progress.consumed
        if self._last is not None and now > self._last[0]:
            self.rate = (consumed - self._last[1]) / (now - self._last[0])
        self._last = (now, consumed)
