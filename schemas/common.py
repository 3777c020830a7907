"""Field types shared by the records."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, WithJsonSchema

IDENTIFIER = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # the same rule, for `fullmatch` outside pydantic
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]
"""account_id / api_key_id charset of docs/events.md: safe in keys, paths and SQL literals."""


def _require_offset(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a UTC offset (RFC 3339), e.g. 2026-11-28T10:00:00+08:00")
    return value


def _require_text(value: object) -> object:
    if not isinstance(value, str | datetime):
        raise ValueError("timestamp must be an RFC 3339 string, e.g. 2026-11-28T10:00:00+08:00")
    return value


AwareDatetime = Annotated[datetime, BeforeValidator(_require_text), AfterValidator(_require_offset)]
TokenCount = Annotated[int, Field(ge=0, le=10_000_000, strict=True)]

_DECIMAL_TEXT = re.compile(r"(0|[1-9][0-9]{0,25})(\.[0-9]{1,12})?")


def _decimal_text(value: object) -> Decimal:
    """A money amount as JSON carries it exactly: a decimal string (or an integer), never a float."""
    if isinstance(value, Decimal):
        text = format(value, "f")
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise ValueError('must be a decimal string, e.g. "0.0123" (a JSON number may not be exact)')
    if not _DECIMAL_TEXT.fullmatch(text):
        raise ValueError("must be a non-negative decimal with at most 26 integer digits and 12 decimals")
    return Decimal(text)


DecimalText = Annotated[
    Decimal,
    BeforeValidator(_decimal_text),
    WithJsonSchema({"type": "string", "pattern": "^(0|[1-9][0-9]{0,25})(\\.[0-9]{1,12})?$"}),
]
"""A non-negative amount that fits Decimal(38, 12) unrounded, e.g. `provider_cost`."""
