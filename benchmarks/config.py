"""What a benchmark run is asked to do (`BenchConfig`) and what it carries between parts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import ALL_PARTS, DEFAULT_PARTS, BenchError
from usageflow.config import KafkaSettings, TopicSettings

Say = Callable[[str], None]
STREAM_PARTS = {"raw", "pipeline", "peer"}
RESULT_KEYS = (
    "pipeline_eps",
    "raw_consume_eps",
    "peer_eps",
    "ratio_vs_raw",
    "ratio_vs_peer",
    "alert_latency_ms_p50",
    "alert_latency_ms_p99",
    "invoice_ms_p50",
    "invoice_ms_p99",
    "report_ms_p50",
    "report_ms_p99",
    "worker_peak_rss_mb",
    "publish_eps",
    "raw_produce_eps",
    "ratio_publish_vs_raw",
    "raw_produce_seconds",
    "warmup_produce_eps",
    "pipeline_seconds",
    "pipeline_avg_batch",
    "pipeline_alerts",
    "pipeline_windows",
    "pipeline_windows_per_s",
    "raw_seconds",
    "peer_seconds",
    "peer_windows",
    "peer_peak_rss_mb",
    "alert_samples",
    "alert_latency_ms_series",
    "alerts_missing",
    "alert_offered_eps",
    "alert_catch_up_s",
    "query_rows",
    "query_load_rows_per_s",
    "invoices_all_ms_p50",
    "invoice_merged_ms_p50",
    "invoice_merged_ms_p99",
    "query_merge_s",
    "profile",
    "worker_py_spy",
    "worker_py_spy_alerts",
)


@dataclass
class BenchConfig:
    events: int = 100_000
    parts: tuple[str, ...] = DEFAULT_PARTS
    accounts: int = 1000
    query_rows: int = 1_000_000
    query_runs: int = 20
    alert_seconds: float = 30.0
    alert_load_eps: float = 200.0
    bootstrap: str | None = None  # an external broker; None starts a private one
    kafka: KafkaSettings | None = None  # security settings for an external broker
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "usageflow")
    price_book: Path | None = None
    keep: Path | None = None  # keep the work directory here (logs, warehouses)
    timeout_s: float = 900.0  # per part

    def validate(self) -> None:
        unknown = [p for p in self.parts if p not in ALL_PARTS]
        if unknown:
            raise BenchError(f"unknown part(s) {', '.join(unknown)}: choose from {', '.join(ALL_PARTS)}")
        if not self.parts:
            raise BenchError("--parts is empty")
        if self.events < 1000:
            raise BenchError("--events must be at least 1000")
        if self.alert_load_eps <= 0 or self.alert_seconds < 1:
            raise BenchError("--alert-load must be > 0 and --alert-seconds at least 1")
        if self.accounts < 1:
            raise BenchError("--accounts must be at least 1")
        if "queries" in self.parts and self.query_rows < 1000:
            raise BenchError("--query-rows must be at least 1000")


@dataclass
class BenchEnv:
    config: BenchConfig
    workdir: Path
    say: Say
    result: dict[str, Any]
    kafka: KafkaSettings | None = None
    topics: TopicSettings | None = None
    kafka_version: str | None = None
    published: int = 0


def empty_result(config: BenchConfig) -> dict[str, Any]:
    """Every key, so scripts can rely on them; a part that did not run leaves None."""
    result: dict[str, Any] = {"events": config.events, "parts": list(config.parts), "accounts": config.accounts}
    result.update(dict.fromkeys(RESULT_KEYS))
    return result


def alert_account_count(config: BenchConfig) -> int:
    return int(config.alert_seconds / 0.2) + 10
