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
    """The warehouse could not be opened, migrated, written or queried."""


class WarehouseLockedError(WarehouseError):
    """An embedded chDB path is owned by another process (chDB allows one process per path)."""


class PriceBookError(UsageflowError):
    """The price book file is invalid."""


class ValidationFailure(UsageflowError):
    """A record broke the event contract; carries the dead-letter reason code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
