"""What the worker has done so far, fed by each batch's report: for `replay`, `up`, `status`,
the HTTP endpoints and the Prometheus metrics."""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from usageflow.streams.metrics import WorkerMetrics
from usageflow.streams.pipeline import BatchReport

log = logging.getLogger(__name__)


@dataclass
class Progress:
    consumed: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    late: int = 0
    alerts: int = 0
    windows: int = 0
    flushes: int = 0
    last_flush_s: float = 0.0
    last_flush_at: str | None = None
    next_offsets: dict[int, int] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        return {
            "consumed": self.consumed,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "dead_lettered": self.dead_lettered,
            "late": self.late,
            "alerts": self.alerts,
            "windows": self.windows,
            "flushes": self.flushes,
            "last_flush_s": round(self.last_flush_s, 4),
            "last_flush_at": self.last_flush_at,
        }


class WorkerState:
    """Progress, metrics and the latest alerts, updated from one place: `observe(report)`."""

    def __init__(self) -> None:
        self.progress = Progress()
        self.metrics = WorkerMetrics()
        self.recent_alerts: deque[dict[str, Any]] = deque(maxlen=20)

    def observe(self, report: BatchReport) -> None:
        p, m = self.progress, self.metrics
        p.consumed += report.records
        p.stored += report.stored
        p.duplicates += report.duplicates
        p.dead_lettered += report.dead_lettered
        p.late += report.late
        p.alerts += len(report.alerts)
        p.windows += report.windows
        p.flushes += 1
        p.last_flush_s = report.store_seconds
        p.last_flush_at = datetime.fromtimestamp(report.finished_at, UTC).isoformat(timespec="seconds")
        for partition, offset in report.next_offsets.items():
            p.next_offsets[partition] = max(offset, p.next_offsets.get(partition, 0))
        m.consumed.inc(report.records)
        m.stored.inc(report.stored)
        m.duplicates.inc(report.duplicates)
        m.late.inc(report.late)
        for reason, count in report.dead_letters.items():
            m.dead_letters.labels(reason).inc(count)
        m.windows.inc(report.windows)
        for alert in report.alerts:
            m.alerts.labels(alert.type).inc()
            self.recent_alerts.appendleft(alert.model_dump(mode="json"))
        m.flush_seconds.observe(report.store_seconds)
        m.batch_size.observe(report.records)
        m.last_flush.set_to_current_time()
        log.info(
            "batch stored",
            extra={
                "records": report.records,
                "stored": report.stored,
                "duplicates": report.duplicates,
                "dead_lettered": report.dead_lettered,
                "alerts": len(report.alerts),
                "windows": report.windows,
                "flush_s": round(report.store_seconds, 4),
                "steps_s": {step: round(seconds, 4) for step, seconds in report.seconds.items()},
            },
        )
