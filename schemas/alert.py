"""Alert v1 (docs/events.md)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

AlertType = Literal["daily_usage", "monthly_usage", "concurrency", "budget", "credits_low"]


class Alert(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, title="Alert v1")

    schema_version: Literal[1] = 1
    alert_id: str
    type: AlertType
    account_id: str
    period: str
    level: Decimal
    value: Decimal
    limit: Decimal
    percentage: Decimal
    triggered_at: datetime
    emitted_at: datetime
    plan: str
