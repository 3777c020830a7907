"""Duplicate keys: the JSON parsers of the hot path keep the last of two equal keys silently
(`{"account_id": "atk", "account_id": "edu-001"}` would bill edu-001), so a record with one is
refused. A cheap count over the raw bytes settles almost every record; only a record whose
count does not match the keys the parser kept is parsed again, strictly."""

from __future__ import annotations

import json
import math
from typing import Any

from usageflow.errors import ValidationFailure

_JSON_WHITESPACE = b" \t\r\n"


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def key_marks(raw: bytes) -> int:
    """An upper bound of the number of object keys in `raw` (valid JSON). Without whitespace,
    every key ends with `"` directly followed by `:`; inside a string that pair can only follow
    an escaped quote (or whitespace removed from the string), which adds to the count: so the
    count is never below the number of keys, and equals it for ordinary records."""
    return raw.translate(None, _JSON_WHITESPACE).count(b'":')


EXTRA_CHECKED = (dict, list, float, int)
_INT_RANGE = (-(2**63), 2**64 - 1)  # what a JSON number in the warehouse's copy of the extras can be


def distinct_keys(value: Any) -> int:
    """Keys of every object inside a parsed value (what the parser kept). Also refuses what the
    fast parser lets through but the stored JSON copy of the extras cannot hold: NaN and
    Infinity (`invalid_json`), integers beyond 64 bits (`schema`)."""
    if isinstance(value, dict):
        return len(value) + sum(distinct_keys(v) for v in value.values() if isinstance(v, EXTRA_CHECKED))
    if isinstance(value, list):
        return sum(distinct_keys(v) for v in value if isinstance(v, EXTRA_CHECKED))
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationFailure("invalid_json", "not valid JSON: NaN and Infinity are not JSON numbers")
    if isinstance(value, int) and not _INT_RANGE[0] <= value <= _INT_RANGE[1]:
        raise ValidationFailure("schema", "an integer in an extra field is beyond 64 bits")
    return 0


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKey(key)
        obj[key] = value
    return obj


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_loads(raw: bytes) -> Any:
    """Parse with every duplicate key refused (ValidationFailure `schema`); other errors are
    json's own ValueError."""
    try:
        return json.loads(raw, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant)
    except _DuplicateKey as dup:
        raise ValidationFailure("schema", f"duplicate key {dup.key[:60]!r} in a JSON object") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None


def refuse_duplicate_keys(raw: bytes, kept_keys: int) -> None:
    """Raise ValidationFailure(`schema`) if `raw` repeats a key in any object; `kept_keys` is how
    many keys the fast parser kept (`distinct_keys` of its result)."""
    if key_marks(raw) <= kept_keys:
        return
    try:
        strict_loads(raw)
    except ValueError as exc:  # e.g. an integer of more digits than json allows
        raise ValidationFailure("schema", f"cannot be checked for duplicate keys: {str(exc)[:120]}") from None
