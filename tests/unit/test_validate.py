"""The validator never raises anything but ValidationFailure, and valid events round-trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usageflow.errors import ValidationFailure
from usageflow.schemas import UsageEvent
from usageflow.schemas.decode import decode_event
from usageflow.schemas.event_time import EventTimeRange

pytestmark = pytest.mark.unit
# The round trip covers 2000 .. 2031: a clock past all of it.
EVERY_TS_SINCE_2000 = EventTimeRange(clock=lambda: datetime(2032, 1, 1, tzinfo=UTC)).window()

IDENT = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-",
    min_size=1,
    max_size=128,
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def valid_event(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "schema_version": 1,
        "event_id": "evt-1",
        "account_id": "edu-001",
        "api_key_id": "key-1",
        "model": "qwen-max",
        "input_tokens": 10,
        "output_tokens": 20,
        "ts": "2026-11-28T10:00:00+08:00",
        "latency_ms": 120,
    }
    base.update(over)
    return base


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_else(raw: bytes) -> None:
    try:
        decode_event(raw)
    except ValidationFailure as exc:
        assert exc.reason in {"invalid_json", "schema"}
        assert "\n" not in exc.message


@given(JSON_VALUES)
def test_arbitrary_json_never_raises_anything_else(value: object) -> None:
    try:
        decode_event(json.dumps(value).encode())
    except ValidationFailure as exc:
        assert exc.reason in {"invalid_json", "schema"}


@given(
    event_id=st.text(min_size=1, max_size=128),
    account=IDENT,
    key=IDENT,
    tokens=st.tuples(st.integers(0, 10_000_000), st.integers(0, 10_000_000)),
    latency=st.integers(0, 3_600_000),
    offset_minutes=st.integers(-14 * 60, 14 * 60),
    seconds=st.integers(0, 10**9),
)
def test_valid_events_round_trip(
    event_id: str,
    account: str,
    key: str,
    tokens: tuple[int, int],
    latency: int,
    offset_minutes: int,
    seconds: int,
) -> None:
    ts = (datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)).astimezone(
        timezone(timedelta(minutes=offset_minutes))
    )
    raw = valid_event(
        event_id=event_id,
        account_id=account,
        api_key_id=key,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        latency_ms=latency,
        ts=ts.isoformat(),
    )
    parsed = decode_event(json.dumps(raw).encode(), EVERY_TS_SINCE_2000)
    assert parsed.event_id == event_id and parsed.account_id == account
    assert parsed.ts == ts
    again = UsageEvent.model_validate_json(parsed.model_dump_json())
    assert again == parsed


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"schema_version": 2}, "schema"),
        ({"account_id": "edu 001"}, "schema"),
        ({"account_id": "x" * 129}, "schema"),
        ({"api_key_id": "k'; DROP TABLE rated_events; --"}, "schema"),
        ({"input_tokens": -1}, "schema"),
        ({"input_tokens": 10_000_001}, "schema"),
        ({"input_tokens": 1.5}, "schema"),
        ({"input_tokens": "10"}, "schema"),
        ({"output_tokens": True}, "schema"),
        ({"latency_ms": 3_600_001}, "schema"),
        ({"ts": "2026-11-28T10:00:00"}, "schema"),
        ({"ts": 1764300000}, "schema"),
        ({"ts": "yesterday"}, "schema"),
        ({"event_id": ""}, "schema"),
    ],
)
def test_rule_violations_are_schema_errors(change: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationFailure) as info:
        decode_event(json.dumps(valid_event(**change)).encode())
    assert info.value.reason == reason


def test_unknown_fields_are_kept() -> None:
    parsed = decode_event(json.dumps(valid_event(course="python-101", cohort=7)).encode())
    assert parsed.model_extra == {"course": "python-101", "cohort": 7}


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b"null", b"\xff\xfe\x00", None])
def test_not_an_object_is_invalid_json(raw: bytes | None) -> None:
    with pytest.raises(ValidationFailure) as info:
        decode_event(raw)
    assert info.value.reason == "invalid_json"
