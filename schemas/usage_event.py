"""UsageEvent v1: one finished API request (docs/events.md)."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from usageflow.schemas.common import AwareDatetime, DecimalText, Identifier, TokenCount


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
    # Token types (docs/events.md): parts of input_tokens / output_tokens, never extra tokens.
    cached_input_tokens: TokenCount = 0
    cache_write_tokens: TokenCount = 0
    reasoning_tokens: TokenCount = 0
    provider_cost: DecimalText | None = None

    @model_validator(mode="after")
    def _parts_within_whole(self) -> Self:
        if not (self.cached_input_tokens or self.cache_write_tokens or self.reasoning_tokens):
            return self  # the common case, checked first: this runs for every event
        if self.cached_input_tokens + self.cache_write_tokens > self.input_tokens:
            raise ValueError(
                f"cached_input_tokens + cache_write_tokens ({self.cached_input_tokens} + "
                f"{self.cache_write_tokens}) exceed input_tokens ({self.input_tokens}): they are part of it"
            )
        if self.reasoning_tokens > self.output_tokens:
            raise ValueError(
                f"reasoning_tokens ({self.reasoning_tokens}) exceed output_tokens ({self.output_tokens}): "
                "they are part of it"
            )
        return self

    @property
    def uncached_input_tokens(self) -> int:
        """Prompt tokens billed at the plain input price."""
        return self.input_tokens - self.cached_input_tokens - self.cache_write_tokens

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens
