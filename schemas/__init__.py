"""The event contract (events.md) as pydantic v2 models; JSON Schema files are generated here."""

from schemas.account import Account, PlanName
from schemas.alert import Alert, AlertType
from schemas.dead_letter import DeadLetter, DeadLetterReason
from schemas.usage_event import UsageEvent

__all__ = [
    "Account",
    "Alert",
    "AlertType",
    "DeadLetter",
    "DeadLetterReason",
    "PlanName",
    "UsageEvent",
]
