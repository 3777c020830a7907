"""Decode and validate a whole batch of raw records against UsageEvent v1 at once (docs/events.md).

The per-record validator (`decode_event`: pydantic, one model per record) costs ~7 µs per event
and builds an object the stream then mostly copies. Here the batch is parsed once with orjson,
every rule is checked over columns (set of types, min/max, the distinct identifiers, every `ts`
in one pydantic call), and each valid event becomes an `EventRecord` (a NamedTuple with the
fields of UsageEvent). The column checks only ever *accept*: a record that fails one, or that
they cannot settle cheaply (duplicate-key suspicion, a float or deep nesting in an extra field,
a `ts` outside the range by the exact comparison, a token-type part over its whole, anything
not plainly valid), goes through `decode_event` itself, so every dead letter keeps today's
reason and message, and a record the per-record validator accepts is accepted either way.
`tests/unit/test_columnar.py` holds the two paths equal under hypothesis.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import compress, repeat
from operator import itemgetter
from typing import Any, NamedTuple, TypeVar, cast

import orjson
from pydantic import TypeAdapter, ValidationError

from usageflow.errors import ValidationFailure
from usageflow.schemas.common import IDENTIFIER, DecimalText
from usageflow.schemas.decode import MAX_RECORD_BYTES, decode_event
from usageflow.schemas.event_time import TimeWindow
from usageflow.schemas.strict_json import key_marks
from usageflow.schemas.usage_event import UsageEvent

MAX_TOKENS = 10_000_000
MAX_LATENCY_MS = 3_600_000
MAX_TEXT = 128
CHUNK = 512  # records checked together: each column pass then stays in the CPU caches (20,000 at once: 2x slower)
_EXTRA_DEPTH = 32  # deeper extras go to the per-record validator (its parser has its own limit)
_JSON_WHITESPACE = b" \t\r\n"
_WHITESPACE_BYTES = (b" ", b"\t", b"\r", b"\n")


class EventRecord(NamedTuple):
    """A valid UsageEvent v1 as a tuple: the fields of `UsageEvent` with the same names and
    values (`ts` carries the offset it was written with, `model_extra` is None without extra
    fields). One is built per event, so a NamedTuple: ~0.3 µs instead of a pydantic model."""

    schema_version: int
    event_id: str
    account_id: str
    api_key_id: str
    model: str
    region: str | None
    input_tokens: int
    output_tokens: int
    ts: datetime
    latency_ms: int
    feature: str | None
    user_id: str | None
    cached_input_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    provider_cost: Decimal | None
    model_extra: dict[str, Any] | None

    @property
    def uncached_input_tokens(self) -> int:
        return self.input_tokens - self.cached_input_tokens - self.cache_write_tokens

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @classmethod
    def of(cls, event: UsageEvent) -> EventRecord:
        """The record of a model the per-record validator built."""
        return cls._make([*(getattr(event, name) for name in _MODEL_FIELDS), event.model_extra or None])


AnyEvent = UsageEvent | EventRecord
_MODEL_FIELDS = EventRecord._fields[:-1]
_KNOWN = frozenset(UsageEvent.model_fields)
_DEFAULTS: dict[str, Any] = {  # UsageEvent's defaults (a unit test compares them)
    "region": None,
    "feature": None,
    "user_id": None,
    "cached_input_tokens": 0,
    "cache_write_tokens": 0,
    "reasoning_tokens": 0,
    "provider_cost": None,
}
_MISSING = object()
_REQUIRED = tuple(name for name in _MODEL_FIELDS if name not in _DEFAULTS)
_TAKE_REQUIRED = itemgetter(*_REQUIRED)  # one C call per object; KeyError when one is missing
_PARTS = frozenset({"cached_input_tokens", "cache_write_tokens", "reasoning_tokens"})
_RARE = _PARTS | {"provider_cost"}  # optional fields most events leave out
_QUOTED = {name: f'"{name}"'.encode() for name in _RARE}
_VALID_IDENTIFIERS: set[str] = set()  # account and key ids that passed the charset rule
_MAX_REMEMBERED = 200_000
_DATETIMES = TypeAdapter(list[datetime])  # the parser UsageEvent's `ts` uses, over a whole column
_DECIMAL = TypeAdapter(DecimalText)
_new = tuple.__new__


@dataclass
class DecodedBatch:
    """Per raw record (same order): its `EventRecord`, or the `ValidationFailure` of
    `decode_event`. `checked_alone`: how many records went through `decode_event`."""

    results: list[EventRecord | ValidationFailure]
    checked_alone: int = 0


def decode_batch(raws: Sequence[bytes | None], window: TimeWindow) -> DecodedBatch:
    """Every raw value -> EventRecord or ValidationFailure, exactly as `decode_event(raw, window)`
    decides (same reason, same message; a valid record's fields equal the model's)."""
    results, alone = _decode(raws, window, _records, _same)
    return DecodedBatch(results, alone)


def account_ids(raws: Sequence[bytes | None], window: TimeWindow) -> list[str | ValidationFailure]:
    """`decode_batch`'s verdicts without building the events (the publisher only needs each
    valid record's `account_id`, its Kafka key): the account id, or the ValidationFailure."""
    return _decode(raws, window, _account_column, _account_of)[0]


_Result = TypeVar("_Result")


def _decode(
    raws: Sequence[bytes | None],
    window: TimeWindow,
    build: Callable[[dict[str, Sequence[Any]], list[dict[str, Any]], list[bool]], Sequence[_Result]],
    of_record: Callable[[EventRecord], _Result],
) -> tuple[list[_Result | ValidationFailure], int]:
    """Each record's `build` value (valid ones, from their columns) or its ValidationFailure;
    and how many records went through `decode_event` (their value is `of_record` of it)."""
    results: list[_Result | ValidationFailure | None] = [None] * len(raws)
    if len(_VALID_IDENTIFIERS) > _MAX_REMEMBERED:
        _VALID_IDENTIFIERS.clear()
    for start in range(0, len(raws), CHUNK):
        _decode_chunk(raws, start, min(start + CHUNK, len(raws)), window, results, build)
    alone = 0
    for position, result in enumerate(results):
        if result is None:
            alone += 1
            verdict = _alone(raws[position], window)
            results[position] = verdict if isinstance(verdict, ValidationFailure) else of_record(verdict)
    return results, alone  # type: ignore[return-value]  # every None was replaced


def _decode_chunk(
    raws: Sequence[bytes | None],
    start: int,
    end: int,
    window: TimeWindow,
    results: list[_Result | ValidationFailure | None],
    build: Callable[[dict[str, Sequence[Any]], list[dict[str, Any]], list[bool]], Sequence[_Result]],
) -> None:
    """The `build` values of the records of raws[start:end] that every column check accepts,
    into `results` (the others stay None)."""
    index, dicts, values = _parsed(raws[start:end])
    if not dicts:
        return
    joined = b"".join(values)  # searched by the column and duplicate-key checks
    cols, absent = _columns(dicts, joined)
    plain = list(map(_KNOWN.issuperset, dicts))  # no extra fields
    good, times = _valid(cols, absent, dicts, values, joined, plain, window)
    if not all(good):
        cols = {name: list(compress(col, good)) for name, col in cols.items()}
        dicts, plain, index = list(compress(dicts, good)), list(compress(plain, good)), list(compress(index, good))
    cols["ts"] = times
    for position, value in zip(index, build(cols, dicts, plain), strict=True):
        results[start + position] = value


def _alone(raw: bytes | None, window: TimeWindow) -> EventRecord | ValidationFailure:
    try:
        return EventRecord.of(decode_event(raw, window))
    except ValidationFailure as exc:
        return exc


def _parsed(raws: Sequence[bytes | None]) -> tuple[list[int], list[dict[str, Any]], list[bytes]]:
    """The records orjson parses to an object, within the size limit: (their positions, the
    objects, their bytes). The rest is left to the per-record validator."""
    try:
        if max(map(len, raws), default=0) > MAX_RECORD_BYTES:  # type: ignore[arg-type]  # None: TypeError
            raise TypeError
        parsed = list(map(orjson.loads, raws))  # type: ignore[arg-type]
    except (TypeError, orjson.JSONDecodeError):
        index, dicts, values = [], [], []
        for n, raw in enumerate(raws):
            if raw is None or len(raw) > MAX_RECORD_BYTES:
                continue
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if type(data) is dict:
                index.append(n)
                dicts.append(data)
                values.append(raw)
        return index, dicts, values
    values = cast(list[bytes], list(raws))  # every one was parsed: none is None
    if set(map(type, parsed)) == {dict}:
        return list(range(len(raws))), parsed, values
    keep = [type(data) is dict for data in parsed]
    return list(compress(range(len(raws)), keep)), list(compress(parsed, keep)), list(compress(values, keep))


def _columns(dicts: list[dict[str, Any]], joined: bytes) -> tuple[dict[str, Sequence[Any]], set[str]]:
    """One column per field of UsageEvent (a missing required field is `_MISSING`), and the
    optional fields no object has. The required fields are taken from every object in one C
    call each (a chunk where one is missing takes them field by field). An optional field whose
    quoted name is not in the bytes of a chunk (`joined`: its records' bytes) without any
    backslash (so no key is spelled with an escape) is in no object: its column is its default,
    without a pass over the objects."""
    columns: dict[str, Sequence[Any]] = {}
    absent: set[str] = set()
    try:
        columns.update(zip(_REQUIRED, zip(*map(_TAKE_REQUIRED, dicts), strict=True), strict=True))
    except KeyError:
        columns.update((name, list(map(dict.get, dicts, repeat(name), repeat(_MISSING)))) for name in _REQUIRED)
    escapes = b"\\" in joined
    for name, default in _DEFAULTS.items():
        if name in _RARE and not escapes and _QUOTED[name] not in joined:
            columns[name] = [default] * len(dicts)
            absent.add(name)
        else:
            columns[name] = list(map(dict.get, dicts, repeat(name), repeat(default)))
    return columns, absent


def _same(record: EventRecord) -> EventRecord:
    return record


def _account_of(record: EventRecord) -> str:
    return record.account_id


def _account_column(cols: dict[str, Sequence[Any]], _dicts: list[dict[str, Any]], _plain: list[bool]) -> Sequence[str]:
    return cols["account_id"]


def _records(cols: dict[str, Sequence[Any]], dicts: list[dict[str, Any]], plain: list[bool]) -> list[EventRecord]:
    extras = None if all(plain) else [None if p else _extras(d) for d, p in zip(dicts, plain, strict=True)]
    columns = [cols[name] for name in _MODEL_FIELDS]
    provider_cost = cols["provider_cost"]
    if any(cost is not None for cost in provider_cost):
        columns[-1] = [None if cost is None else _DECIMAL.validate_python(cost) for cost in provider_cost]
    columns.append(extras if extras is not None else [None] * len(provider_cost))
    return list(map(_new, repeat(EventRecord), zip(*columns, strict=True)))


# --- the rules, over columns --------------------------------------------------------------------


def _valid(
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
    if not absent >= _PARTS:
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
        _DECIMAL.validate_python(v)
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
        return len(data) + sum(_nested_keys(v, 1) for k, v in data.items() if k not in _KNOWN)
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


def _extras(data: dict[str, Any]) -> dict[str, Any] | None:
    extra = {k: v for k, v in data.items() if k not in _KNOWN}
    return extra or None


__all__ = ["AnyEvent", "DecodedBatch", "EventRecord", "account_ids", "decode_batch"]
