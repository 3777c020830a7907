"""Prometheus metrics of the worker, served at `GET /metrics` on its HTTP endpoint."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class WorkerMetrics:
    """One registry per worker (not the process-global one), so tests can build several."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.consumed = Counter("usageflow_events_consumed", "Records read from the events topic", registry=r)
        self.stored = Counter("usageflow_events_stored", "Events stored in the warehouse (first time)", registry=r)
        self.duplicates = Counter("usageflow_events_duplicate", "Events already stored (counted once)", registry=r)
        self.late = Counter("usageflow_events_late", "Events past the allowed lateness (billed, no alerts)", registry=r)
        self.dead_letters = Counter(
            "usageflow_dead_letters", "Records sent to the dead-letter topic", ["reason"], registry=r
        )
        self.alerts = Counter("usageflow_alerts", "Alerts published", ["type"], registry=r)
        self.windows = Counter("usageflow_windows", "Window revisions published on the windows topic", registry=r)
        self.flush_seconds = Histogram(
            "usageflow_flush",
            "Time to store one batch in the warehouse",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            unit="seconds",
            registry=r,
        )
        self.batch_size = Histogram(
            "usageflow_batch",
            "Records per batch",
            buckets=(1, 10, 100, 1_000, 5_000, 10_000, 20_000, 50_000),
            unit="records",
            registry=r,
        )
        self.last_flush = Gauge(
            "usageflow_last_flush_timestamp", "Unix time of the last flush", unit="seconds", registry=r
        )
        # Every worker reports the whole group's lag (end offset minus the group's committed
        # offset) of every partition: aggregate with max by (partition), never a plain sum.
        self.lag = Gauge(
            "usageflow_consumer_lag",
            "Records of the events topic not yet committed by the group, per partition",
            ["partition"],
            unit="messages",
            registry=r,
        )
        self.warehouse_down = Gauge(
            "usageflow_warehouse_unavailable", "1 while warehouse writes are failing and retried", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
