"""Settings for one CLI invocation: environment/.env first, global flags override."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from usageflow.config import (
    KafkaSettings,
    PathSettings,
    StreamSettings,
    TopicSettings,
    WarehouseSettings,
)


@dataclass
class CliContext:
    bootstrap: str | None = None
    warehouse: str | None = None
    topic_prefix: str | None = None
    data_dir: Path | None = None
    price_book: Path | None = None
    debug: bool = False
    _cache: dict[str, object] = field(default_factory=dict)

    def kafka(self) -> KafkaSettings:
        overrides = {"bootstrap": self.bootstrap} if self.bootstrap else {}
        return KafkaSettings(**overrides)  # type: ignore[arg-type]

    def topics(self) -> TopicSettings:
        overrides = {"topic_prefix": self.topic_prefix} if self.topic_prefix is not None else {}
        return TopicSettings(**overrides)  # type: ignore[arg-type]

    def paths(self) -> PathSettings:
        overrides: dict[str, object] = {}
        if self.data_dir is not None:
            overrides["data_dir"] = self.data_dir
        if self.price_book is not None:
            overrides["price_book"] = self.price_book
        return PathSettings(**overrides)  # type: ignore[arg-type]

    def stream(self) -> StreamSettings:
        return StreamSettings()

    def warehouse_url(self) -> str:
        if self.warehouse:
            return self.warehouse
        return WarehouseSettings().warehouse.get_secret_value()
