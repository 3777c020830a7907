"""The columnar step 1 (usageflow.ingest.columnar, usageflow.schemas.columnar) against the
per-record path it replaces, which stays as the oracle (`process_batch_per_record`: a pydantic
model and `rate_event` per record): for batches of valid, hostile and arbitrary records, both
give the same rated events field by field (in the same order, the same Decimal digits), the
same Arrow table for the insert, the same dead letters with the same reasons and messages, and
the same count of duplicates. Also: ordinary events are settled by the column checks alone (so
the equality is not won by sending everything to the per-record validator)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.workload import bench_accounts, event_lines
from tests.fixtures.hostile import GOOD_EVENTS, HOSTILE_EVENTS, NOW
from tests.fixtures.price_versions import BOUNDARIES, versioned_books
from usageflow.demo.generator import BAD_LINES, sample_event_lines
from usageflow.errors import ValidationFailure
from usageflow.ingest.batch import BatchOutcome, RawRecord, process_batch, process_batch_per_record
from usageflow.pricing.price_book import PriceBook
from usageflow.schemas import Account, UsageEvent
from usageflow.schemas import columnar as columnar_schema
from usageflow.schemas.columnar import EventRecord, account_ids, decode_batch
from usageflow.schemas.decode import decode_event
from usageflow.schemas.event_time import EventTimeRange
from usageflow.streams.rated_rows import rated_events_table

pytestmark = pytest.mark.unit

RANGE = EventTimeRange(clock=lambda: NOW)
EARLIEST, LATEST = RANGE.window().earliest, RANGE.window().latest
STAMP = datetime(2026, 12, 1, tzinfo=UTC)
BOOK = PriceBook()
ACCOUNTS = {
    "la": Account(account_id="la", plan="standard", timezone="America/Los_Angeles"),
    "berlin": Account(account_id="berlin", plan="starter", timezone="Europe/Berlin"),
    "kiritimati": Account(account_id="kiritimati", plan="payg", timezone="Pacific/Kiritimati"),
    "default-zone": Account(account_id="default-zone", plan="professional"),
}


# --- comparing outcomes -------------------------------------------------------------------------


def assert_same_outcome(got: BatchOutcome, want: BatchOutcome) -> None:
    assert got.duplicates_in_batch == want.duplicates_in_batch
    assert got.rejected == want.rejected  # the same records, reasons and messages, in order
    assert got.sources == want.sources
    assert len(got.rated) == len(want.rated)
    for mine, theirs in zip(got.rated, want.rated, strict=True):
        assert type(mine.event) is EventRecord
        assert isinstance(theirs.event, UsageEvent)
        # repr: the same values and types (TzInfo offsets, Decimal exponents, True is not 1)
        assert repr(mine.event) == repr(EventRecord.of(theirs.event))
        assert repr(mine[1:]) == repr(theirs[1:])
    assert rated_events_table(got.rated, STAMP).equals(rated_events_table(want.rated, STAMP))


def both(raws: list[bytes | None], book: PriceBook = BOOK, chunk: int = 512) -> BatchOutcome:
    records = [RawRecord(b"k", raw, "usage.events", n % 3, n) for n, raw in enumerate(raws)]
    with mock.patch.object(columnar_schema, "CHUNK", chunk):
        got = process_batch(records, ACCOUNTS.get, book, RANGE)
        keys = account_ids(raws, RANGE.window())
    want = process_batch_per_record(records, ACCOUNTS.get, book, RANGE)
    assert_same_outcome(got, want)
    assert [_verdict(k) for k in keys] == [_verdict(_decoded_account(raw)) for raw in raws]
    return got


def _decoded_account(raw: bytes | None) -> str | ValidationFailure:
    """The publisher's verdict on one record as the per-record validator gives it."""
    try:
        return decode_event(raw, RANGE.window()).account_id
    except ValidationFailure as exc:
        return exc


def _verdict(value: str | ValidationFailure) -> tuple[str, str]:
    return ("failure", f"{value.reason}: {value.message}") if isinstance(value, ValidationFailure) else ("key", value)


# --- generated records --------------------------------------------------------------------------

JSON_SCALAR = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
)
JSON_VALUE = st.recursive(
    JSON_SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
EXTRA_KEYS = st.sampled_from(["course", "cohort", "_x", "__class__", "model_config", "Model", "ts ", "schema"])
OFFSETS = [0, 60, -7 * 3600, 8 * 3600, 5 * 3600 + 45 * 60, 14 * 3600, -12 * 3600, 23 * 3600 + 59 * 60]
# Instants around DST changes of the accounts' zones, month starts and the window's ends.
INSTANTS = [
    *BOUNDARIES,
    datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=UTC),  # Berlin springs forward at 01:00 UTC
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 11, 1, 8, 59, 59, tzinfo=UTC),  # Los Angeles falls back at 09:00 UTC
    datetime(2026, 11, 1, 9, tzinfo=UTC),
    datetime(2026, 11, 1, 9, 30, tzinfo=UTC),
    datetime(2026, 10, 31, 23, 59, 59, 999000, tzinfo=UTC),
    EARLIEST,
    EARLIEST - timedelta(microseconds=1),
    EARLIEST + timedelta(microseconds=1),
    LATEST,
    LATEST + timedelta(microseconds=1),
    LATEST - timedelta(microseconds=1),
    datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC),
]


@st.composite
def timestamps(draw: Any) -> object:
    """`ts` as producers write it, well and badly."""
    instant = draw(st.sampled_from(INSTANTS)) + timedelta(seconds=draw(st.sampled_from([0, 0, 1, -1, 3600, -86400])))
    local = instant.astimezone(timezone(timedelta(seconds=draw(st.sampled_from(OFFSETS)))))
    style = draw(st.sampled_from([0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]))
    if style == 0:
        return local.isoformat()
    if style == 1:
        return local.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if style == 2:
        return local.isoformat(timespec="seconds")
    if style == 3:
        return local.replace(tzinfo=None).isoformat()  # naive
    if style == 4:
        return local.isoformat().replace("T", " ")
    if style == 5:
        return local.isoformat().lower()
    if style == 6:
        return local.isoformat(timespec="seconds") + ".1234567"  # more than microseconds
    if style == 7:
        return str(int(instant.timestamp()))  # a number as text
    if style == 8:
        return int(instant.timestamp())  # a number
    if style == 9:
        return draw(
            st.sampled_from(["", "yesterday", "2026-02-30T00:00:00Z", "2026-11-05T24:00:00Z", "9999-12-31T23:59:59Z"])
        )
    if style == 10:
        return local.isoformat()[:-6] + draw(st.sampled_from(["+0800", "+08", "-00:00", "+24:00", "Z"]))
    return draw(st.text(max_size=30))


# Per field: values a valid event may have, and values that break (or test) a rule.
GOOD: dict[str, st.SearchStrategy[Any]] = {
    "schema_version": st.just(1),
    "event_id": st.sampled_from(["e1", "e2", "e3", "x" * 128, "é" * 64, "\x00"]) | st.text(min_size=1, max_size=8),
    "account_id": st.sampled_from([*ACCOUNTS, "unknown-acct"]),
    "api_key_id": st.sampled_from(["k1", "k2", "la-key-0", "a.b:c-d_e"]),
    "model": st.sampled_from(["qwen-max", "qwen-plus", "qwen-turbo"]),
    "input_tokens": st.integers(0, 50_000) | st.sampled_from([0, 10_000_000]),
    "output_tokens": st.integers(0, 50_000) | st.sampled_from([0, 10_000_000]),
    "latency_ms": st.sampled_from([0, 50, 3_600_000]),
    "region": st.sampled_from(["us-west", "eu-central", "ap-southeast", None]),
    "feature": st.sampled_from(["code_completion", "", None, "f" * 128]),
    "user_id": st.sampled_from(["student-1", "", None]),
    "provider_cost": st.sampled_from(["0.0123", "0.10", "5", 5, "0", "12345678901234567890123456.123456789012"]),
}
BAD: dict[str, list[Any]] = {
    "schema_version": [2, True, 1.0, "1", None],
    "event_id": ["", "x" * 129, 7, None],
    "account_id": ["", "a" * 129, "edu 001", "a\n", "ü", 5],
    "api_key_id": ["k'; DROP", "k" * 129, []],
    "model": ["gpt-unknown", "", "m" * 129, None],
    "input_tokens": [10_000_001, -1, True, 1.0, "5", None, 2**64],
    "output_tokens": [10_000_001, -1, False, 2.0],
    "latency_ms": [3_600_001, -1, 2.5, None],
    "region": ["", "nowhere", 3, "r" * 129],
    "feature": ["f" * 129, 1],
    "user_id": ["u" * 129, False],
    "provider_cost": ["00.1", "1e3", 0.5, -1, "1" * 27, "0.1234567890123", True, None],
    "cached_input_tokens": [-1, None, 1.5, 10_000_001],
    "cache_write_tokens": [-1, True],
    "reasoning_tokens": [-1, "3"],
}
OPTIONAL = (
    "region",
    "feature",
    "user_id",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "provider_cost",
)


@st.composite
def event_dicts(draw: Any) -> dict[str, Any]:
    """Mostly valid events (some with token types, provider cost, extra fields); some with one
    or two fields broken."""
    data: dict[str, Any] = {name: draw(GOOD[name]) for name in GOOD if name not in OPTIONAL}
    data["ts"] = draw(timestamps())
    for name in OPTIONAL:
        if draw(st.integers(0, 2)) == 0:
            if name in GOOD:
                data[name] = draw(GOOD[name])
            elif name == "reasoning_tokens":
                data[name] = draw(st.integers(0, max(0, data["output_tokens"] + 1)))
            else:  # cached and written together may pass the input tokens
                data[name] = draw(st.integers(0, max(0, data["input_tokens"] * 2 // 3 + 1)))
    if draw(st.integers(0, 3)) == 0:
        data.update(draw(st.dictionaries(EXTRA_KEYS | st.text(max_size=5), JSON_VALUE, max_size=3)))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2]))):
        name = draw(st.sampled_from(sorted(BAD)))
        data[name] = draw(st.sampled_from(BAD[name]))
    if draw(st.integers(0, 9)) == 0:
        del data[draw(st.sampled_from(sorted(data)))]
    return data


@st.composite
def encoded(draw: Any, data: dict[str, Any]) -> bytes:
    """One event's bytes: compact or spaced, escaped or not, sometimes with a repeated key."""
    style = draw(st.integers(0, 5))
    if style == 0:
        try:
            raw = orjson.dumps(data)
        except TypeError:  # an integer beyond 64 bits
            raw = json.dumps(data, separators=(",", ":")).encode()
    elif style == 1:
        raw = json.dumps(data).encode()
    elif style == 2:
        raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    elif style == 3:
        raw = json.dumps(data, indent=1).encode()
    elif style == 4:  # a key written twice (the parsers keep the last one)
        key = draw(st.sampled_from(sorted(data)))
        first = json.dumps({key: draw(JSON_SCALAR)})[1:-1]
        raw = ("{" + first + ", " + json.dumps(data)[1:]).encode()
    else:  # a key spelled with an escape: "\u0063ached_input_tokens"
        key = draw(st.sampled_from(sorted(data)))
        text, quoted = json.dumps(data), json.dumps(key)
        if key and ord(key[0]) <= 0xFFFF and quoted[1] != "\\":
            text = text.replace(quoted + ": ", f'"\\u{ord(key[0]):04x}' + quoted[2:] + ": ", 1)
        raw = text.encode()
    return raw


@st.composite
def raw_records(draw: Any) -> bytes | None:
    kind = draw(st.integers(0, 9))
    if kind <= 5:
        return draw(encoded(draw(event_dicts())))
    if kind == 6:
        return draw(st.sampled_from([h[1] for h in HOSTILE_EVENTS] + list(BAD_LINES) + [None, b"", b"[]", b"null"]))
    if kind == 7:
        return draw(st.binary(max_size=60))
    if kind == 8:
        return json.dumps(draw(JSON_VALUE)).encode()
    return draw(st.sampled_from(GOOD_EVENTS))


@st.composite
def batches(draw: Any) -> list[bytes | None]:
    records = draw(st.lists(raw_records(), max_size=30))
    for _ in range(draw(st.integers(0, 4))):  # re-sent records: duplicates in the batch
        if records:
            records.insert(draw(st.integers(0, len(records))), draw(st.sampled_from(records)))
    return records


# --- the properties -----------------------------------------------------------------------------


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raws=batches(), chunk=st.sampled_from([1, 3, 512]))
def test_the_columnar_outcome_equals_the_per_record_outcome(raws: list[bytes | None], chunk: int) -> None:
    both(raws, chunk=chunk)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raws=batches(), book=versioned_books())
def test_price_versions_and_token_types_rate_alike(raws: list[bytes | None], book: PriceBook) -> None:
    both(raws, book)


@settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(1999, 12, 31), max_value=datetime(2026, 12, 1)),
    offset_minutes=st.integers(-(24 * 60 - 1), 24 * 60 - 1),
    account=st.sampled_from(sorted(ACCOUNTS)),
)
def test_any_instant_in_any_offset_rates_alike(moment: datetime, offset_minutes: int, account: str) -> None:
    ts = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    data = {**json.loads(GOOD_EVENTS[0]), "account_id": account, "ts": ts.isoformat()}
    both([json.dumps(data).encode(), orjson.dumps({**data, "event_id": "second"})])


@pytest.mark.parametrize(("name", "raw", "reason"), HOSTILE_EVENTS, ids=[h[0] for h in HOSTILE_EVENTS])
def test_each_hostile_record_beside_good_ones(name: str, raw: bytes, reason: str) -> None:
    outcome = both([*GOOD_EVENTS, raw, GOOD_EVENTS[0]])
    assert [r.reason for r in outcome.rejected] == [reason], name
    assert outcome.duplicates_in_batch == 1


def test_every_bench_and_demo_event_rates_alike() -> None:
    both([*event_lines(3000, 50), *sample_event_lines()])


# --- the column checks settle ordinary events -----------------------------------------------------


def ordinary_lines() -> list[bytes]:
    """What producers send: generated events, with token types, provider cost, extras, json.dumps
    spacing and escapes, null optional fields."""
    base = [json.loads(line) for line in event_lines(600, 40)]
    varied = []
    for n, data in enumerate(base):
        if n % 5 == 1:
            data.update(cached_input_tokens=data["input_tokens"] // 2, reasoning_tokens=data["output_tokens"] // 3)
        if n % 5 == 2:
            data.update(provider_cost="0.0123", region=None, feature=None)
        if n % 5 == 3:
            data.update(course="python-101", cohort=7, tags=["a", {"b": None}], flags={"beta": True})
        dumped = orjson.dumps(data) if n % 2 else json.dumps(data, ensure_ascii=n % 3 == 0).encode()
        varied.append(dumped)
    return varied


def test_ordinary_events_need_no_per_record_validation() -> None:
    lines = ordinary_lines()
    decoded = decode_batch(lines, RANGE.window())
    assert decoded.checked_alone == 0
    assert decoded.results == [EventRecord.of(decode_event(line, RANGE.window())) for line in lines]


@pytest.mark.parametrize(
    "change",
    [
        {"score": 0.5},  # a float in an extra field (orjson reads a huge integer as one)
        {"deep": json.loads("[" * 40 + "]" * 40)},
        {"input_tokens": True},
        {"ts": "2026-11-30T12:05:00.000001Z"},  # past the window's end by a microsecond
        {"cached_input_tokens": 10**6},  # more than the input tokens
    ],
)
def test_what_the_column_checks_cannot_settle_goes_to_the_record_validator(change: dict[str, Any]) -> None:
    raw = json.dumps({**json.loads(GOOD_EVENTS[0]), **change}).encode()
    decoded = decode_batch([GOOD_EVENTS[1], raw], RANGE.window())
    assert decoded.checked_alone == 1
    try:
        expected: EventRecord | ValidationFailure = EventRecord.of(decode_event(raw, RANGE.window()))
    except ValidationFailure as exc:
        expected = exc
    got = decoded.results[1]
    if isinstance(expected, ValidationFailure):
        assert isinstance(got, ValidationFailure) and (got.reason, got.message) == (expected.reason, expected.message)
    else:
        assert got == expected


def test_the_record_lists_the_fields_and_defaults_of_usage_event() -> None:
    fields = UsageEvent.model_fields
    assert set(EventRecord._fields) == {*fields, "model_extra"}
    defaults = {n: f.default for n, f in fields.items() if not f.is_required()}
    assert defaults == columnar_schema._DEFAULTS


def test_local_dates_across_a_dst_change_are_those_of_the_zone() -> None:
    """Los Angeles falls back at 2026-11-01 09:00 UTC: 01:30 local happens twice."""
    first, second = datetime(2026, 11, 1, 8, 30, tzinfo=UTC), datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    lines = [
        orjson.dumps({**json.loads(GOOD_EVENTS[0]), "event_id": f"dst-{n}", "account_id": "la", "ts": ts.isoformat()})
        for n, ts in enumerate((first, second))
    ]
    outcome = both(lines)
    zone = ZoneInfo("America/Los_Angeles")
    assert [r.billing_date for r in outcome.rated] == [first.astimezone(zone).date(), second.astimezone(zone).date()]
    assert [r.off_peak_multiplier for r in outcome.rated] == [Decimal("0.7"), Decimal("0.7")]  # 01:30, twice


def test_bench_accounts_and_the_bench_workload_take_the_fast_path() -> None:
    directory = {a.account_id: a for a in bench_accounts(200)}
    lines = list(event_lines(2000, 200))
    assert decode_batch(lines, RANGE.window()).checked_alone == 0
    records = [RawRecord(b"k", raw, "usage.events", 0, n) for n, raw in enumerate(lines)]
    got = process_batch(records, directory.get, PriceBook(), RANGE)
    assert_same_outcome(got, process_batch_per_record(records, directory.get, PriceBook(), RANGE))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("cached_input_tokens", 40_000),
        ("cache_write_tokens", 10_000),
        ("reasoning_tokens", 30),
        ("provider_cost", "1.5"),
    ],
)
def test_a_key_spelled_with_an_escape_is_read(key: str, value: object) -> None:
    """`"\\u0063ached_input_tokens"` is the key cached_input_tokens, though its name is nowhere in the bytes."""
    data = {**json.loads(GOOD_EVENTS[0]), "output_tokens": 1000, key: value}
    raw = json.dumps(data).replace(f'"{key}"', f'"\\u{ord(key[0]):04x}{key[1:]}"').encode()
    assert key.encode() not in raw
    outcome = both([GOOD_EVENTS[1], raw])
    assert getattr(outcome.rated[1].event, key) == (Decimal(value) if key == "provider_cost" else value)
