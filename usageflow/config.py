"""Settings: one pydantic-settings class per section, read from the environment and `.env`.

Every variable of the CLI contract (`USAGEFLOW_*`) lives here; flags override them by
building the settings with explicit values.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

LIBRDKAFKA_LOG = logging.getLogger("usageflow.librdkafka")
_COMMON = {"env_file": ".env", "extra": "ignore", "env_file_encoding": "utf-8"}


class PathSettings(BaseSettings):
    """Local state: stream tables, the local broker's data and logs."""

    model_config = SettingsConfigDict(env_prefix="USAGEFLOW_", **_COMMON)  # type: ignore[typeddict-item]

    data_dir: Path = Path(".usageflow")
    cache_dir: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "usageflow",
        description="Downloaded broker jars live here, outside any checkout.",
    )
    price_book: Path | None = None


class KafkaSettings(BaseSettings):
    """Kafka connection, including pass-through security options."""

    model_config = SettingsConfigDict(env_prefix="USAGEFLOW_KAFKA_", **_COMMON)  # type: ignore[typeddict-item]

    bootstrap: str = "127.0.0.1:9092"
    security_protocol: str = "PLAINTEXT"  # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    sasl_mechanism: str | None = None  # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    def confluent_config(self) -> dict[str, Any]:
        """librdkafka settings for confluent-kafka clients. librdkafka's own log lines go to the
        `usageflow.librdkafka` logger (silent unless --debug) instead of flooding stderr."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": self.security_protocol,
            "logger": LIBRDKAFKA_LOG,
        }
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            conf["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            conf["sasl.password"] = self.sasl_password.get_secret_value()
        if self.ssl_cafile:
            conf["ssl.ca.location"] = str(self.ssl_cafile)
        if self.ssl_certfile:
            conf["ssl.certificate.location"] = str(self.ssl_certfile)
        if self.ssl_keyfile:
            conf["ssl.key.location"] = str(self.ssl_keyfile)
        return conf


class TopicSettings(BaseSettings):
    """Topic names; the prefix also namespaces the consumer group."""

    model_config = SettingsConfigDict(env_prefix="USAGEFLOW_", **_COMMON)  # type: ignore[typeddict-item]

    topic_prefix: str = ""
    partitions: int = 4

    def name(self, base: str) -> str:
        return f"{self.topic_prefix}{base}"

    @cached_property
    def events(self) -> str:
        return self.name("usage.events")

    @cached_property
    def accounts(self) -> str:
        return self.name("usage.accounts")

    @cached_property
    def alerts(self) -> str:
        return self.name("usage.alerts")

    @cached_property
    def dlq(self) -> str:
        return self.name("usage.dlq")

    @cached_property
    def windows(self) -> str:
        """WindowAggregate v1 records, compacted, keyed by `window_id` (docs/events.md §4)."""
        return self.name("usage.windows")

    @cached_property
    def dlq_replays(self) -> str:
        """Which dead letters `usageflow dlq replay` re-published, and where the copies went."""
        return self.name("usage.dlq.replays")

    @cached_property
    def group(self) -> str:
        return self.name("usageflow")


class WarehouseSettings(BaseSettings):
    """Where rated usage goes: `chdb:PATH` (embedded) or `clickhouse://user:pass@host:8123/db`."""

    model_config = SettingsConfigDict(env_prefix="USAGEFLOW_", **_COMMON)  # type: ignore[typeddict-item]

    warehouse: SecretStr = SecretStr("chdb:./.usageflow/warehouse")
    # USAGEFLOW_CLICKHOUSE_CLUSTER: a cluster of ClickHouse servers; migrations then emit
    # ON CLUSTER DDL (replicated tables, rated_events and alerts sharded by account).
    clickhouse_cluster: str | None = None


class StreamSettings(BaseSettings):
    """Worker tuning: sink batching, lateness, the HTTP endpoint."""

    model_config = SettingsConfigDict(env_prefix="USAGEFLOW_STREAM_", **_COMMON)  # type: ignore[typeddict-item]

    flush_max_rows: int = 20_000
    flush_interval_s: float = 0.1
    allowed_lateness_hours: float = 48.0
    window_open_row_interval_s: float = Field(
        default=5.0,
        ge=0,
        description="An open window's row in window_aggregates is rewritten at most this often (its first "
        "row at once; 0: with every batch that changes it). Closed windows are published and stored at once.",
    )
    http_host: str = "127.0.0.1"
    http_port: int = 6066
    log_format: str = Field(default="text", validation_alias="USAGEFLOW_LOG_FORMAT")  # text | json
    static_membership: bool = Field(
        default=False,
        description="Join the consumer group as a static member (group.instance.id), so a restarted worker "
        "takes its partitions back without waiting out its old session.",
    )
    instance_id: str | None = Field(
        default=None,
        description="Static consumer-group membership id (group.instance.id) of this worker: stable across "
        "its restarts, unique among workers. Default: derived from the host, data dir and HTTP endpoint.",
    )


class EventTimeSettings(BaseSettings):
    """The accepted event-time range (docs/design.md, "Hostile input"): an event whose `ts` is
    before `earliest` or more than `max_ahead_s` after the wall clock is a `ts_out_of_range`
    dead letter."""

    model_config = SettingsConfigDict(env_prefix="USAGEFLOW_EVENT_TIME_", **_COMMON)  # type: ignore[typeddict-item]

    earliest: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    max_ahead_s: float = Field(default=300.0, ge=0)
