"""No single record can stop the stream: through decode + rate (process_batch) every record is
rated or rejected with a reason, whatever its bytes; duplicate keys are refused; every dead
letter fits in one Kafka record."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fixtures.hostile import GOOD_EVENTS, HOSTILE_EVENTS, NOW, event
from usageflow.bus.dead_letters import MAX_DEAD_LETTER_BYTES, dead_letter_value
from usageflow.errors import ValidationFailure
from usageflow.ingest.batch import RawRecord, process_batch
from usageflow.pricing.price_book import PriceBook
from usageflow.schemas import Account, DeadLetter
from usageflow.schemas.decode import decode_event
from usageflow.schemas.event_time import EventTimeRange
from usageflow.schemas.strict_json import key_marks
from usageflow.streams.rated_rows import rated_events_table

pytestmark = pytest.mark.unit

BOOK = PriceBook()
RANGE = EventTimeRange(clock=lambda: NOW)
REASONS = {"invalid_json", "schema", "unknown_model", "unknown_region", "ts_out_of_range"}
ACCOUNTS = {
    "hostile-edu": Account(account_id="hostile-edu", plan="standard", timezone="America/Los_Angeles"),
    "edu-sh": Account(account_id="edu-sh", plan="starter", timezone="Asia/Shanghai"),
}
JSON_ANY = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=16,
)
JSON = st.recursive(  # what a well-formed record's extra fields can hold
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=16,
)
FIELD_VALUES: dict[str, list[Any]] = {
    "schema_version": [0, 1, 2, -1, 1.0, "1", True, None],
    "event_id": ["", "x", "x" * 128, "x" * 129, "\x00", "é" * 128, 7, None],
    "account_id": ["", "a", "a" * 128, "a" * 129, "edu 001", "edu-sh", "hostile-edu", "a\n", "ü", None],
    "api_key_id": ["k", "k" * 129, "k'; DROP TABLE rated_events; --", [], None],
    "model": ["qwen-max", "qwen-turbo", "", "m" * 129, "nope", None],
    "region": ["us-west", "nowhere", "", None, 3],
    "input_tokens": [0, 10_000_000, 10_000_001, -1, 2**31, 2**63, 2**64, 1.5, "1", None],
    "output_tokens": [0, 10_000_000, 10_000_001, -1, True],
    "latency_ms": [0, 3_600_000, 3_600_001, -1, 2**32],
    "ts": [
        "2000-01-01T00:00:00Z",
        "1999-12-31T23:59:59Z",
        "2026-11-30T12:05:00Z",
        "2026-11-30T12:05:01Z",
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+23:59",
        "9999-12-31T23:59:59-23:59",
        "9999-12-31T23:59:59.999999+08:00",
        "1970-01-01T00:00:00Z",
        "2149-06-06T00:00:00Z",
        "2026-11-05T10:00:00",
        "2026-02-30T00:00:00Z",
        "2026-11-05T24:00:00Z",
        "2026-11-05T10:00:00+24:00",
        1764300000,
        "",
    ],
    "feature": ["", "f" * 128, "f" * 129, None],
    "user_id": ["", "u" * 129, None],
}


def run(records: list[bytes | None], accounts: dict[str, Account] = ACCOUNTS):  # type: ignore[no-untyped-def]
    raw = [RawRecord(b"k", value, "usage.events", 0, n) for n, value in enumerate(records)]
    outcome = process_batch(raw, accounts.get, BOOK, RANGE)
    assert len(outcome.rated) + len(outcome.rejected) + outcome.duplicates_in_batch == len(records)
    for rejected in outcome.rejected:
        assert rejected.reason in REASONS, rejected
        assert rejected.message and "\n" not in rejected.message
        dead = dead_letter_value(
            rejected.reason, rejected.message, rejected.record.value, "usage.events", 0, rejected.record.offset, b"k"
        )
        DeadLetter.model_validate_json(dead)
    if outcome.rated:
        assert rated_events_table(outcome.rated).num_rows == len(outcome.rated)
    return outcome


@pytest.mark.parametrize(("name", "raw", "reason"), HOSTILE_EVENTS, ids=[h[0] for h in HOSTILE_EVENTS])
def test_every_hostile_record_is_rejected_with_its_reason(name: str, raw: bytes, reason: str) -> None:
    outcome = run([*GOOD_EVENTS, raw])
    assert [r.reason for r in outcome.rejected] == [reason], name
    assert sorted(r.event.event_id for r in outcome.rated) == ["good-0", "good-1", "good-2"]
    assert all(str(r.list_cost) == "0.6000000" for r in outcome.rated)  # 100,000 x 0.006 / 1,000


def test_a_duplicated_account_id_bills_nobody() -> None:
    (_name, raw, _reason) = next(h for h in HOSTILE_EVENTS if h[0] == "duplicate account_id")
    assert json.loads(raw)["account_id"] == "edu-victim"  # last key wins for a lax parser
    with pytest.raises(ValidationFailure) as info:
        decode_event(raw, RANGE.window())
    assert info.value.reason == "schema" and "duplicate key 'account_id'" in info.value.message


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_are_rated_or_rejected(raw: bytes) -> None:
    outcome = run([raw, GOOD_EVENTS[0]])
    assert "good-0" in {r.event.event_id for r in outcome.rated}  # the good record beside it is billed


@settings(max_examples=300, deadline=None)
@given(JSON_ANY, JSON_ANY)
def test_arbitrary_json_is_rated_or_rejected(value: object, extra: object) -> None:
    run([json.dumps(value).encode(), json.dumps({**event("e1"), "extra": extra}).encode()])


@settings(max_examples=500, deadline=None)
@given(
    changes=st.dictionaries(
        st.sampled_from(sorted(FIELD_VALUES)),
        st.integers(0, 20),
        max_size=4,
    ),
    extra=st.dictionaries(st.text(max_size=6), JSON, max_size=3),
)
def test_boundary_values_of_every_field_are_rated_or_rejected(changes: dict[str, int], extra: dict[str, Any]) -> None:
    data: dict[str, Any] = event("e1", account="edu-sh")
    for field, pick in changes.items():
        values = FIELD_VALUES[field]
        data[field] = values[pick % len(values)]
    data.update({k: v for k, v in extra.items() if k not in data})
    outcome = run([json.dumps(data).encode()])
    if outcome.rated:
        rated = outcome.rated[0]
        assert rated.event.account_id == data["account_id"]
        assert RANGE.earliest <= rated.event.ts


@settings(max_examples=300, deadline=None)
@given(value=JSON, keys=st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=3))
def test_a_duplicate_key_at_any_depth_is_refused(value: object, keys: list[str]) -> None:
    """Nest an object with one repeated key inside the extras, at a depth given by `keys`."""
    inner = b'{"d": 1, "d": ' + json.dumps(value).encode() + b"}"
    for key in keys:
        inner = b'{"' + json.dumps(key)[1:-1].encode() + b'": [' + inner + b"]}"
    raw = json.dumps(event("e1"))[:-1].encode() + b', "nested": ' + inner + b"}"
    with pytest.raises(ValidationFailure) as info:
        decode_event(raw, RANGE.window())
    assert info.value.reason == "schema" and "duplicate key" in info.value.message


@settings(max_examples=300, deadline=None)
@given(extra=st.dictionaries(st.text(max_size=8), JSON, max_size=4), spaced=st.booleans(), ascii_only=st.booleans())
def test_no_duplicate_is_found_where_there_is_none(extra: dict[str, Any], spaced: bool, ascii_only: bool) -> None:
    """Escaped quotes, colons and whitespace in strings never make a clean record look duplicated."""
    data = {**event("e1"), **{f"x{k}": v for k, v in extra.items()}}
    separators = (", ", " : ") if spaced else (",", ":")
    raw = json.dumps(data, separators=separators, ensure_ascii=ascii_only).encode()
    parsed = decode_event(raw, RANGE.window())
    assert parsed.model_extra == {f"x{k}": v for k, v in extra.items()}


def test_the_cheap_count_settles_ordinary_records() -> None:
    """For generated events the byte count equals the key count: the strict parser never runs."""
    raw = GOOD_EVENTS[0]
    assert key_marks(raw) == len(json.loads(raw))
    assert key_marks(orjson.dumps(json.loads(raw))) == len(json.loads(raw))


@pytest.mark.parametrize("size", [0, 10, 600_000, 900_000, 999_999, 1_000_001, 3_000_000])
@pytest.mark.parametrize("key", [None, b"k", b"K" * 300_000])
def test_a_dead_letter_always_fits_in_one_record(size: int, key: bytes | None) -> None:
    original = (b"\x1b\x00\xff" * (size // 3 + 1))[:size]
    value = dead_letter_value("invalid_json", "m" * 10_000, original, "usage.events", 3, 42, key)
    assert len(value) + len(key or b"") <= MAX_DEAD_LETTER_BYTES
    dead = DeadLetter.model_validate_json(value)
    kept = base64.b64decode(dead.original_b64)
    assert dead.original_size == size
    assert dead.original_sha256 == hashlib.sha256(original).hexdigest()
    assert original.startswith(kept)
    assert dead.original_truncated == (len(kept) < size)
    if size <= 10:
        assert kept == original and not dead.original_truncated
    if size >= 900_000:
        assert dead.original_truncated
