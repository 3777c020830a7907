"""Account: plan and discounts of one customer (docs/events.md, `usage.accounts`).

Every field is bounded so that any accepted account fits the warehouse's `accounts` columns and
the sums the billing views and alert rules make of it (plan quota + extra_tokens in UInt64, plan
concurrency + extra_concurrent in UInt32, Decimal(38, 12) money). A record outside the bounds is
rejected whole, never clamped.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator

from usageflow.schemas.common import Identifier

PlanName = Literal["payg", "starter", "standard", "professional", "enterprise"]
MAX_EXTRA_TOKENS = 10**12  # tokens a month added to the plan
MAX_EXTRA_CONCURRENT = 100_000
MAX_CONTRACT_MONTHS = 1200  # a hundred years
MAX_MONTHLY_BUDGET = Decimal(10**12)  # CNY


@cache
def known_zones() -> frozenset[str]:
    """IANA zone names; not the host's own `localtime` link nor tzdata's `Factory` placeholder."""
    return frozenset(available_timezones()) - {"localtime", "Factory", "posixrules"}


class Account(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, title="Account")

    account_id: Identifier
    plan: PlanName = "payg"
    extra_tokens: Annotated[int, Field(ge=0, le=MAX_EXTRA_TOKENS)] = 0
    extra_concurrent: Annotated[int, Field(ge=0, le=MAX_EXTRA_CONCURRENT)] = 0
    prepaid: bool = False
    contract_months: Annotated[int, Field(ge=0, le=MAX_CONTRACT_MONTHS)] = 0
    educational: bool = False
    timezone: Annotated[str, Field(max_length=64)] | None = None
    monthly_budget: Annotated[Decimal, Field(ge=0, le=MAX_MONTHLY_BUDGET, decimal_places=12)] | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value not in known_zones():  # IANA names only (no paths or files)
            raise ValueError(f"unknown time zone {value[:64]!r}")
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @classmethod
    def payg(cls, account_id: str) -> Account:
        """What an account nobody told us about is billed as: payg, no discounts."""
        return cls(account_id=account_id)
