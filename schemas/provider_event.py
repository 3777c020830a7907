"""An event that carries its provider's usage, converted before it is validated and published.

A producer may send, instead of (or beside) the token counts, the provider's own usage:

    {"schema_version": 1, "event_id": "…", …, "provider": "anthropic",
     "provider_usage": {"input_tokens": 12, "cache_read_input_tokens": 2048, "output_tokens": 300}}

`provider` (optional: detected from the shape when absent) is `openai`, `anthropic` or
`dashscope`; `provider_usage` is the usage object, a whole response, the final chunk of a
stream or the list of a stream's chunks (usageflow.schemas.provider_usage). The publisher sets
the five counts from it and keeps `provider` and the usage object (never a whole response:
its text stays out of the warehouse) as extra fields of the event. A count the event gives
itself must equal the converted one. docs/events.md §2 has the mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from usageflow.errors import ValidationFailure
from usageflow.schemas.decode import MAX_RECORD_BYTES
from usageflow.schemas.provider_usage import TokenUsage, extract_usage, normalise_usage, refuse
from usageflow.schemas.strict_json import strict_loads

USAGE_FIELD = "provider_usage"
PROVIDER_FIELD = "provider"
_MARK = b'"provider_usage"'


def with_provider_usage(event: Mapping[str, Any]) -> dict[str, Any]:
    """`event` with its counts set from `provider_usage` (returned unchanged, as a new dict, when
    it has none or it is null). Raises ValidationFailure (`schema`) when the usage is refused or
    disagrees with a count the event gives."""
    out = dict(event)
    payload = out.get(USAGE_FIELD)
    if payload is None:
        return out
    style = out.get(PROVIDER_FIELD)
    if style is not None and not isinstance(style, str):
        raise refuse(f"provider must be openai, anthropic or dashscope, not {type(style).__name__}")
    usage = extract_usage(payload)
    counts = normalise_usage(usage, style)
    for name, value in counts._asdict().items():
        if name in out and not (type(out[name]) is int and out[name] == value):
            raise refuse(f"the event's {name} ({out[name]!r}) disagrees with its provider usage ({value})")
        out[name] = value
    out[USAGE_FIELD] = dict(usage)
    return out


def convert_line(raw: bytes) -> bytes:
    """One JSON line as `usageflow publish` reads it: the same bytes unless the line carries a
    provider usage, else the converted event. A line that is not a JSON object is returned as
    it is, for the event decoder to refuse with its own reason."""
    if _MARK not in raw or len(raw) > MAX_RECORD_BYTES:
        return raw  # the fast path: almost every line (and the decoder refuses a line too large)
    try:
        data = strict_loads(raw)  # a duplicate key is refused here (schema), as the decoder would
    except ValueError:
        return raw
    if not isinstance(data, dict) or data.get(USAGE_FIELD) is None:
        return raw
    try:
        return orjson.dumps(with_provider_usage(data))
    except orjson.JSONEncodeError as exc:
        raise ValidationFailure("schema", f"cannot be written back as JSON: {str(exc)[:120]}") from None


__all__ = ["PROVIDER_FIELD", "USAGE_FIELD", "TokenUsage", "convert_line", "with_provider_usage"]
