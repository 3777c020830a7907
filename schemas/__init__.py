"""The event contract (docs/events.md) as pydantic v2 models; JSON Schema files are generated here."""

from usageflow.schemas.account import Account, PlanName
from usageflow.schemas.alert import Alert, AlertType
from usageflow.schemas.dead_letter import DeadLetter, DeadLetterReason
from usageflow.schemas.usage_event import UsageEvent
from usageflow.schemas.window_aggregate import WindowAggregate

__all__ = [
    "Account",
    "Alert",
    "AlertType",
    "DeadLetter",
    "DeadLetterReason",
    "PlanName",
    "UsageEvent",
    "WindowAggregate",
]
