"""The rules of UsageEvent v1 over the columns of a batch (usageflow.schemas.columnar).

Each check settles a whole column at C speed when every value plainly passes (set of types,
min/max, the distinct identifiers, every `ts` in one pydantic call), and only then looks for
the offenders one by one. The checks only ever *accept*: what one refuses, or cannot settle
cheaply (duplicate-key suspicion, a float or deep nesting in an extra field, a `ts` outside the
range by the exact comparison), goes to the per-record validator, which names the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from itertools import compress
from typing import Any

from pydantic import TypeAdapter, ValidationError

from usageflow.errors import ValidationFailure
from usageflow.schemas.common import IDENTIFIER, DecimalText
from usageflow.schemas.event_time import TimeWindow
from usageflow.schemas.strict_json import key_marks
from usageflow.schemas.usage_event import UsageEvent

MAX_TOKENS = 10_000_000
MAX_LATENCY_MS = 3_600_000
MAX_TEXT = 128
KNOWN_FIELDS = frozenset(UsageEvent.model_fields)
TOKEN_PARTS = frozenset({"cached_input_tokens", "cache_write_tokens", "reasoning_tokens"})
DECIMAL_TEXT = TypeAdapter(DecimalText)
_EXTRA_DEPTH = 32  # deeper extras go to the per-record validator (its parser has its own limit)
_JSON_WHITESPACE = b" \t\r\n"
_WHITESPACE_BYTES = (b" ", b"\t", b"\r", b"\n")
_VALID_IDENTIFIERS: set[str] = set()  # account and key ids that passed the charset rule
_MAX_REMEMBERED = 200_000
_DATETIMES = TypeAdapter(list[datetime])  # the parser UsageEvent's `ts` uses, over a whole column


def bound_identifier_memory() -> None:
    """Forget the identifiers found valid once more than `_MAX_REMEMBERED` are held."""
    if len(_VALID_IDENTIFIERS) > _MAX_REMEMBERED:
        _VALID_IDENTIFIERS.clear()


def plainly_valid(
    cols: dict[str, Sequence[Any]],
    absent: set[str],
    dicts: list[dict[str, Any]],
    values: list[bytes],
    joined: bytes,
    plain: list[bool],
    window: TimeWindow,
) -> tuple[list[bool], list[datetime]]:
    """Per object: True when every rule of UsageEvent v1 plainly holds (then `decode_event`
    would accept it with the same values); False sends it to the per-record validator. Also
    the parsed `ts` of every True one, in order."""
    good = [True] * len(dicts)

    def refuse(positions: Sequence[int]) -> None:
        for p in positions:
            good[p] = False

    refuse(_duplicate_suspects(dicts, values, joined, plain))
    refuse(_failing(cols["schema_version"], _one, _all_one))
    refuse(_failing(cols["event_id"], _text(1), _texts(1)))
    refuse(_failing(cols["account_id"], _identifier, _identifiers))
    refuse(_failing(cols["api_key_id"], _identifier, _identifiers))
    refuse(_failing(cols["model"], _text(1), _texts(1)))
    refuse(_failing(cols["region"], _optional_text(1), _optional_texts(1)))
    refuse(_failing(cols["feature"], _optional_text(0), _optional_texts(0)))
    refuse(_failing(cols["user_id"], _optional_text(0), _optional_texts(0)))
    for name in ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens", "reasoning_tokens"):
        if name not in absent:
            refuse(_failing(cols[name], _count(MAX_TOKENS), _counts(MAX_TOKENS)))
    refuse(_failing(cols["latency_ms"], _count(MAX_LATENCY_MS), _counts(MAX_LATENCY_MS)))
    if "provider_cost" not in absent:
        refuse(_failing(cols["provider_cost"], _cost, _no_costs))
    if not absent >= TOKEN_PARTS:
        refuse(_parts_over_whole(cols, good))
    positions, times = _times(cols["ts"], good, window)
    if len(positions) < sum(good):
        good = [False] * len(good)
        for p in positions:
            good[p] = True
    return good, times


def _failing(col: Sequence[Any], ok: Callable[[Any], bool], all_ok: Callable[[Sequence[Any]], bool]) -> list[int]:
    """Positions whose value breaks the rule: `all_ok` settles the column at C speed, `ok`
    finds the offenders only when it does not."""
    if all_ok(col):
        return []
    return [p for p, value in enumerate(col) if not ok(value)]


def _one(v: Any) -> bool:
    return type(v) is int and v == 1


def _all_one(col: Sequence[Any]) -> bool:
    return set(map(type, col)) == {int} and set(col) == {1}


def _text(shortest: int) -> Callable[[Any], bool]:
    return lambda v: type(v) is str and shortest <= len(v) <= MAX_TEXT


def _texts(shortest: int) -> Callable[[Sequence[Any]], bool]:
    def check(col: Sequence[Any]) -> bool:
        return set(map(type, col)) == {str} and shortest <= min(map(len, col)) and max(map(len, col)) <= MAX_TEXT

    return check


def _optional_text(shortest: int) -> Callable[[Any], bool]:
    text = _text(shortest)
    return lambda v: v is None or text(v)


def _optional_texts(shortest: int) -> Callable[[Sequence[Any]], bool]:
    texts = _texts(shortest)

    def check(col: Sequence[Any]) -> bool:
        present = [v for v in col if v is not None] if None in col else col
        return not present or texts(present)

    return check


def _identifier(v: Any) -> bool:
    return type(v) is str and IDENTIFIER.fullmatch(v) is not None


def _identifiers(col: Sequence[Any]) -> bool:
    """The charset rule once per distinct value (a stream has few accounts and keys): values
    found valid are remembered, up to `_MAX_REMEMBERED` of them."""
    if set(map(type, col)) != {str}:
        return False
    new = set(col) - _VALID_IDENTIFIERS
    if all(IDENTIFIER.fullmatch(v) for v in new):
        _VALID_IDENTIFIERS.update(new)
        return True
    return False


def _count(highest: int) -> Callable[[Any], bool]:
    return lambda v: type(v) is int and 0 <= v <= highest


def _counts(highest: int) -> Callable[[Sequence[Any]], bool]:
    def check(col: Sequence[Any]) -> bool:
        return set(map(type, col)) == {int} and min(col) >= 0 and max(col) <= highest

    return check


def _cost(v: Any) -> bool:
    """`provider_cost` as UsageEvent reads it; a float is left to the per-record validator
    (which refuses it; orjson also reads an integer beyond 64 bits as one)."""
    if v is None:
        return True
    if type(v) not in (str, int):
        return False
    try:
        DECIMAL_TEXT.validate_python(v)
    except ValidationError:
        return False
    return True


def _no_costs(col: Sequence[Any]) -> bool:
    return all(v is None for v in col)


def _parts_over_whole(cols: dict[str, Sequence[Any]], good: list[bool]) -> list[int]:
    """Token types must stay within their whole (UsageEvent._parts_within_whole)."""
    cached, written, reasoning = cols["cached_input_tokens"], cols["cache_write_tokens"], cols["reasoning_tokens"]
    if not (any(cached) or any(written) or any(reasoning)):
        return []
    inputs, outputs = cols["input_tokens"], cols["output_tokens"]
    return [
        p
        for p in compress(range(len(good)), good)  # every count is an int in range here
        if cached[p] + written[p] > inputs[p] or reasoning[p] > outputs[p]
    ]


def _times(ts: Sequence[Any], good: list[bool], window: TimeWindow) -> tuple[list[int], list[datetime]]:
    """Of the `good` positions, those whose `ts` is a string that pydantic reads as a datetime
    with an offset, inside the window; with those datetimes. The whole column is parsed in one
    call of the same parser UsageEvent uses. The window is compared as `TimeWindow.check` does
    (POSIX seconds as floats, which never decrease as the instant grows): when the earliest and
    the latest event pass, every event does."""
    positions = [p for p in compress(range(len(good)), good) if type(ts[p]) is str]
    try:
        times = _DATETIMES.validate_python([ts[p] for p in positions])
    except ValidationError as exc:
        failed = {err["loc"][0] for err in exc.errors() if err["loc"]}
        positions = [p for n, p in enumerate(positions) if n not in failed]
        try:
            times = _DATETIMES.validate_python([ts[p] for p in positions])
        except ValidationError:
            return [], []
    if None in {t.tzinfo for t in times}:
        keep = [t.tzinfo is not None and t.utcoffset() is not None for t in times]
        positions, times = list(compress(positions, keep)), list(compress(times, keep))
    if times and not (_inside(window, min(times)) and _inside(window, max(times))):
        keep = [_inside(window, t) for t in times]
        positions, times = list(compress(positions, keep)), list(compress(times, keep))
    return positions, times


def _inside(window: TimeWindow, ts: datetime) -> bool:
    try:
        window.check(ts)
    except ValidationFailure:
        return False
    return True


# --- duplicate keys and extra fields ----------------------------------------------------------


class _NotPlain(Exception):
    """An extra field the column checks leave to the per-record validator."""


def _duplicate_suspects(
    dicts: list[dict[str, Any]], values: list[bytes], joined: bytes, plain: list[bool]
) -> list[int]:
    """Objects whose bytes may repeat a key, or whose extra fields are not plain. `key_marks` is
    never below a record's keys, so when the marks of the whole batch (one pass over `joined`,
    the records' bytes: each object starts with `{` and ends with `}`, so no mark spans two
    records) equal the keys the parser kept, no record repeats one; otherwise each record is
    compared alone."""
    kept = list(map(len, dicts)) if all(plain) else [_kept_keys(d, p) for d, p in zip(dicts, plain, strict=True)]
    if min(kept) >= 0:
        if any(space in joined for space in _WHITESPACE_BYTES):  # compact JSON (orjson's, JavaScript's) has none
            joined = joined.translate(None, _JSON_WHITESPACE)
        if joined.count(b'":') == sum(kept):
            return []
    return [p for p, (raw, k) in enumerate(zip(values, kept, strict=True)) if k < 0 or key_marks(raw) > k]


def _kept_keys(data: dict[str, Any], plain: bool) -> int:
    """Keys of the object and of every object inside its extra fields; -1 when an extra field is
    not plain (see `_nested_keys`)."""
    if plain:
        return len(data)
    try:
        return len(data) + sum(_nested_keys(v, 1) for k, v in data.items() if k not in KNOWN_FIELDS)
    except _NotPlain:
        return -1


def _nested_keys(value: Any, depth: int) -> int:
    """Keys inside an extra field's value. Floats are left to the per-record validator: orjson
    reads an integer beyond 64 bits as a float, which that validator refuses."""
    kind = type(value)
    if kind is dict:
        if depth > _EXTRA_DEPTH:
            raise _NotPlain
        return len(value) + sum(_nested_keys(v, depth + 1) for v in value.values())
    if kind is list:
        if depth > _EXTRA_DEPTH:
            raise _NotPlain
        return sum(_nested_keys(v, depth + 1) for v in value)
    if kind is float:
        raise _NotPlain
    return 0


__all__ = [
    "DECIMAL_TEXT",
    "KNOWN_FIELDS",
    "MAX_LATENCY_MS",
    "MAX_TEXT",
    "MAX_TOKENS",
    "TOKEN_PARTS",
    "bound_identifier_memory",
    "plainly_valid",
]
