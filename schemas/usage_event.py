"""UsageEvent v1: one finished API request (docs/events.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from usageflow.schemas.common import AwareDatetime, Identifier, TokenCount


class UsageEvent(BaseModel):
    """Unknown extra fields are kept (`model_extra`) and written to the warehouse as JSON."""

    model_config = ConfigDict(extra="allow", frozen=True, title="UsageEvent v1")

    schema_version: Literal[1]
    event_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    account_id: Identifier
    api_key_id: Identifier
    model: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    region: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    input_tokens: TokenCount
    output_tokens: TokenCount
    ts: AwareDatetime
    latency_ms: Annotated[int, Field(ge=0, le=3_600_000, strict=True)]
    feature: Annotated[str, StringConstraints(max_length=128)] | None = None
    user_id: Annotated[str, StringConstraints(max_length=128)] | None = None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens
