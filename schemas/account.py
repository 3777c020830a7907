"""Account: plan and discounts of one customer (docs/events.md, `usage.accounts`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator
from usageflow.schemas.common import Identifier

PlanName = Literal["payg", "starter", "standard", "professional", "enterprise"]


class Account(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, title="Account")

    account_id: Identifier
    plan: PlanName = "payg"
    extra_tokens: Annotated[int, Field(ge=0)] = 0
    extra_concurrent: Annotated[int, Field(ge=0)] = 0
    prepaid: bool = False
    contract_months: Annotated[int, Field(ge=0)] = 0
    educational: bool = False
    timezone: str | None = None
    monthly_budget: Annotated[Decimal, Field(ge=0)] | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @classmethod
    def payg(cls, account_id: str) -> Account:
        """What an account nobody told us about is billed as: payg, no discounts."""
        return cls(account_id=account_id)
