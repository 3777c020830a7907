"""One root exception type; the CLI prints any of these as one clear line."""


class UsageflowError(Exception):
    """Root of every error usageflow raises on purpose."""


class ConfigError(UsageflowError):
    """A setting is missing or malformed."""


class MissingToolError(UsageflowError):
    """A program the command needs (java, mvn) is not installed."""


class BrokerError(UsageflowError):
    """The local Kafka broker could not be fetched, started, reached or stopped."""


class WarehouseError(UsageflowError):
    """The warehouse could not be opened, migrated, written or queried.

    `code` and `name` are ClickHouse's error code and symbolic name when the engine gave them
    (`Code: 252 … (TOO_MANY_PARTS)`), None for transport errors. `kind` says what a caller can
    do about it (usageflow.warehouse.failures): `outage` heals by itself (retry), `data` means
    the rows sent were refused (find them, dead-letter them), `fatal` is neither (a bug or a
    setting: do not retry forever).
    """

    def __init__(self, message: str, code: int | None = None, name: str | None = None, kind: str = "fatal") -> None:
        super().__init__(message)
        self.code = code
        self.name = name
        self.kind = kind

    @property
    def healable(self) -> bool:
        return self.kind == "outage"


class WarehouseLockedError(WarehouseError):
    """An embedded chDB path is owned by another process (chDB allows one process per path)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="outage")


class PriceBookError(UsageflowError):
    """The price book file is invalid."""


class ValidationFailure(UsageflowError):
    """A record broke the event contract; carries the dead-letter reason code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
