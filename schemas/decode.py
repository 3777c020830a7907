"""Decode and validate one raw record against UsageEvent v1 (docs/events.md).

Never raises anything but ValidationFailure, whatever the bytes: the stream must not stop.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError
from usageflow.schemas import Account, UsageEvent

from usageflow.errors import ValidationFailure

MAX_RECORD_BYTES = 1_000_000


def decode_event(raw: bytes | None) -> UsageEvent:
    """Bytes -> UsageEvent, or ValidationFailure with reason `invalid_json` or `schema`.

    pydantic parses the JSON itself (one pass in Rust): the hot path of the stream."""
    if raw is None:
        raise ValidationFailure("invalid_json", "record has no value")
    if len(raw) > MAX_RECORD_BYTES:
        raise ValidationFailure("invalid_json", f"record is {len(raw)} bytes, over the 1 MB limit")
    try:
        return UsageEvent.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            raise ValidationFailure("invalid_json", f"not valid JSON: {first['msg']}") from None
        if first["type"] == "model_type" and not first["loc"]:
            _decode_object(raw)  # raises with the JSON type named
        raise ValidationFailure("schema", describe_validation_error(exc)) from None


def decode_account(raw: bytes) -> Account:
    data = _decode_object(raw)
    try:
        return Account.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailure("invalid_account", describe_validation_error(exc)) from None


def _decode_object(raw: bytes | None) -> dict[str, Any]:
    if raw is None:
        raise ValidationFailure("invalid_json", "record has no value")
    if len(raw) > MAX_RECORD_BYTES:
        raise ValidationFailure("invalid_json", f"record is {len(raw)} bytes, over the 1 MB limit")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailure("invalid_json", f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationFailure("invalid_json", f"expected a JSON object, got {type(data).__name__}")
    return data


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming every offending field, without echoing long or hostile values."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "record"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - len(parts)
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)[:500]
