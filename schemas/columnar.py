"""Decode and validate a whole batch of raw records against UsageEvent v1 at once (docs/events.md).

The per-record validator (`decode_event`: pydantic, one model per record) costs ~7 µs per event
and builds an object the stream then mostly copies. Here the batch is parsed once with orjson,
every rule is checked over columns (usageflow.schemas.column_checks: set of types, min/max,
the distinct identifiers, every `ts` in one pydantic call), and each valid event becomes an
`EventRecord` (a NamedTuple with the fields of UsageEvent). The column checks only ever
*accept*: a record that fails one, or that they cannot settle cheaply (duplicate-key
suspicion, a float or deep nesting in an extra field, a `ts` outside the range by the exact
comparison, a token-type part over its whole, anything not plainly valid), goes through
`decode_event` itself, so every dead letter keeps today's reason and message, and a record the
per-record validator accepts is accepted either way. `tests/unit/test_columnar.py` holds the
two paths equal under hypothesis.
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

from usageflow.errors import ValidationFailure
from usageflow.schemas.column_checks import (
    DECIMAL_TEXT,
    KNOWN_FIELDS,
    TOKEN_PARTS,
    bound_identifier_memory,
    plainly_valid,
)
from usageflow.schemas.decode import MAX_RECORD_BYTES, decode_event
from usageflow.schemas.event_time import TimeWindow
from usageflow.schemas.usage_event import UsageEvent

CHUNK = 512  # records checked together: each column pass then stays in the CPU caches (20,000 at once: 2x slower)


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
_RARE = TOKEN_PARTS | {"provider_cost"}  # optional fields most events leave out
_QUOTED = {name: f'"{name}"'.encode() for name in _RARE}
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
    bound_identifier_memory()
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
    plain = list(map(KNOWN_FIELDS.issuperset, dicts))  # no extra fields
    good, times = plainly_valid(cols, absent, dicts, values, joined, plain, window)
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
        columns[-1] = [None if cost is None else DECIMAL_TEXT.validate_python(cost) for cost in provider_cost]
    columns.append(extras if extras is not None else [None] * len(provider_cost))
    return list(map(_new, repeat(EventRecord), zip(*columns, strict=True)))


def _extras(data: dict[str, Any]) -> dict[str, Any] | None:
    extra = {k: v for k, v in data.items() if k not in KNOWN_FIELDS}
    return extra or None


__all__ = ["AnyEvent", "DecodedBatch", "EventRecord", "account_ids", "decode_batch"]
