"""Decode and validate one raw record against UsageEvent v1 (docs/events.md).

Never raises anything but ValidationFailure, whatever the bytes: the stream must not stop.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from usageflow.errors import ValidationFailure
from usageflow.schemas import Account, UsageEvent
from usageflow.schemas.event_time import TimeWindow, default_event_time_range
from usageflow.schemas.strict_json import EXTRA_CHECKED, distinct_keys, refuse_duplicate_keys, strict_loads

MAX_RECORD_BYTES = 1_000_000


def decode_event(raw: bytes | None, window: TimeWindow | None = None) -> UsageEvent:
    """Bytes -> UsageEvent, or ValidationFailure with reason `invalid_json`, `schema` (which
    includes a duplicate key at any depth) or `ts_out_of_range` (outside `window`; default: the
    configured event-time range, now).

    pydantic parses the JSON itself (one pass in Rust): the hot path of the stream."""
    if raw is None:
        raise ValidationFailure("invalid_json", "record has no value")
    if len(raw) > MAX_RECORD_BYTES:
        raise ValidationFailure("invalid_json", f"record is {len(raw)} bytes, over the 1 MB limit")
    try:
        event = UsageEvent.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            raise ValidationFailure("invalid_json", f"not valid JSON: {first['msg']}") from None
        if first["type"] == "model_type" and not first["loc"]:
            _decode_object(raw)  # raises with the JSON type named
        raise ValidationFailure("schema", describe_validation_error(exc)) from None
    kept = len(event.model_fields_set)
    extra = event.model_extra
    if extra:
        kept += sum(distinct_keys(v) for v in extra.values() if isinstance(v, EXTRA_CHECKED))
    refuse_duplicate_keys(raw, kept)
    (window or default_event_time_range().window()).check(event.ts)
    return event


def decode_account(raw: bytes) -> Account:
    """Bytes -> Account, or ValidationFailure `invalid_account` (a duplicate key included)."""
    try:
        data = _decode_object(raw)
    except ValidationFailure as exc:
        raise ValidationFailure("invalid_account", exc.message) from None
    try:
        return Account.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailure("invalid_account", describe_validation_error(exc)) from None


def _decode_object(raw: bytes | None) -> dict[str, Any]:
    """Strict parse (duplicate keys refused): for rare records and error messages only."""
    if raw is None:
        raise ValidationFailure("invalid_json", "record has no value")
    if len(raw) > MAX_RECORD_BYTES:
        raise ValidationFailure("invalid_json", f"record is {len(raw)} bytes, over the 1 MB limit")
    try:
        data = strict_loads(raw)
    except ValueError as exc:
        raise ValidationFailure("invalid_json", f"not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise ValidationFailure("invalid_json", f"expected a JSON object, got {type(data).__name__}")
    return data


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming every offending field, without echoing long or hostile values."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p)[:60] for p in err["loc"]) or "record"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - len(parts)
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)[:500]
