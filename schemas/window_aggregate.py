"""WindowAggregate v1: one revision of a tumbling window (docs/events.md §4, topic `usage.windows`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints

from usageflow.schemas.common import AwareDatetime, DecimalText, Identifier

Count = Annotated[int, Field(ge=0, strict=True)]


def decimal_text(value: Decimal) -> str:
    """An exact decimal as plain text: no exponent, no trailing zeros (`0.0123`, `12`, `0`)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


class WindowAggregate(BaseModel):
    """Totals of the stored events of one window; a later revision of the same `window_id`
    replaces an earlier one (keep the highest revision)."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="WindowAggregate v1")

    schema_version: Literal[1] = 1
    window_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
    account_id: Identifier
    api_key_id: Identifier
    model: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    granularity: Literal["1m", "1h", "1d"]
    window_start: AwareDatetime
    window_end: AwareDatetime
    requests: Count
    input_tokens: Count
    output_tokens: Count
    total_tokens: Count
    cached_input_tokens: Count
    cache_write_tokens: Count
    reasoning_tokens: Count
    list_cost: Annotated[DecimalText, PlainSerializer(decimal_text, return_type=str, when_used="json")]
    revision: Annotated[int, Field(ge=1, strict=True)]
    emitted_at: AwareDatetime
