"""Window bounds, ids and records against the independent oracle (tests/oracle/windows.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.oracle import windows as ref
from usageflow.pricing.price_book import load_price_book
from usageflow.pricing.rating import rate_event
from usageflow.schemas import Account, WindowAggregate
from usageflow.schemas.decode import decode_event
from usageflow.windows.records import WindowRow, record, rows_table, table_records
from usageflow.windows.slots import (
    WindowKey,
    bounds_text,
    day_bounds_ms,
    to_ms,
    window_end_ms,
    window_id,
    window_keys,
)
from usageflow.windows.totals import Frozen

pytestmark = pytest.mark.unit

BOOK = load_price_book(None)
# Zones with DST at 02:00, at midnight (Santiago), by 30 minutes (Lord Howe), odd offsets.
ZONES = [
    "UTC",
    "Asia/Shanghai",
    "America/Los_Angeles",
    "Europe/Berlin",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Chatham",
]
# Instants around the 2026 transitions of those zones, and anywhere in 2025 to mid-November 2026 (the
# event-time range accepts nothing later than a few minutes ahead of the clock).
TRANSITIONS = [
    datetime(2026, 3, 8, 10, tzinfo=UTC),
    datetime(2026, 11, 1, 9, tzinfo=UTC),
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2026, 4, 5, 3, tzinfo=UTC),
    datetime(2026, 9, 6, 4, tzinfo=UTC),
    datetime(2026, 4, 4, 15, tzinfo=UTC),
    datetime(2026, 10, 3, 15, tzinfo=UTC),
]
instants = st.one_of(
    st.builds(
        lambda base, ms: base + timedelta(milliseconds=ms),
        st.sampled_from(TRANSITIONS),
        st.integers(min_value=-30 * 3_600_000, max_value=30 * 3_600_000),
    ),
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 11, 15), timezones=st.just(UTC)),
)


def rated(ts: datetime, zone: str, **over: object) -> object:
    event = {
        "schema_version": 1,
        "event_id": "e",
        "account_id": "a",
        "api_key_id": "k",
        "model": "qwen-max",
        "input_tokens": 100,
        "output_tokens": 20,
        "ts": ts.isoformat(),
        "latency_ms": 5,
        **over,
    }
    account = Account(account_id="a", plan="starter", timezone=zone)
    return rate_event(decode_event(orjson.dumps(event)), account, BOOK)


@settings(max_examples=400, deadline=None)
@given(ts=instants, zone=st.sampled_from(ZONES))
def test_an_event_falls_in_the_windows_the_oracle_finds(ts: datetime, zone: str) -> None:
    r = rated(ts.replace(microsecond=ts.microsecond // 1000 * 1000), zone)
    keys = window_keys("a", "k", "qwen-max", to_ms(r.event.ts), r.billing_tz, r.billing_date)  # type: ignore[attr-defined]
    want = ref.slots_of(r)
    got = [(k.granularity, k.start_ms, window_end_ms(k), k.zone) for k in keys]
    assert got == [(s.granularity, s.start_ms, s.end_ms, s.zone) for s in want]
    # every instant of a day window has the window's local date, the day's length is 23-25 h
    day = keys[2]
    start, end = day_bounds_ms(zone, r.billing_date)  # type: ignore[attr-defined]
    assert start <= to_ms(r.event.ts) < end  # type: ignore[attr-defined]
    assert 23 * 3_600_000 <= end - start <= 25 * 3_600_000
    assert day.start_ms == start


@settings(max_examples=200, deadline=None)
@given(day=st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31)), zone=st.sampled_from(ZONES))
def test_a_local_day_starts_where_the_oracle_finds_its_first_instant(day: date, zone: str) -> None:
    start, end = day_bounds_ms(zone, day)
    assert start == to_ms(ref.first_instant_of(day, zone))
    assert end == to_ms(ref.first_instant_of(day + timedelta(days=1), zone))


def test_the_day_the_clocks_go_back_in_los_angeles_is_25_hours_and_its_record_shows_local_midnights() -> None:
    key = WindowKey(
        "a", "k", "m", "1d", day_bounds_ms("America/Los_Angeles", date(2026, 11, 1))[0], "America/Los_Angeles"
    )
    end = window_end_ms(key)
    assert end - key.start_ms == 25 * 3_600_000
    assert bounds_text(key, end) == ("2026-11-01T00:00:00-07:00", "2026-11-02T00:00:00-08:00")


def test_santiago_skips_midnight_when_summer_time_starts_so_that_day_starts_at_one() -> None:
    # 2026-09-06: clocks go from 00:00 -04:00 to 01:00 -03:00.
    start, end = day_bounds_ms("America/Santiago", date(2026, 9, 6))
    key = WindowKey("a", "k", "m", "1d", start, "America/Santiago")
    assert bounds_text(key, end) == ("2026-09-06T01:00:00-03:00", "2026-09-07T00:00:00-03:00")
    assert end - start == 23 * 3_600_000


def test_window_ids_follow_the_documented_recipe_and_tell_zones_apart() -> None:
    import hashlib

    minute = WindowKey("edu-001", "k1", "qwen-max", "1m", to_ms(datetime(2026, 11, 28, 2, 5, tzinfo=UTC)), "UTC")
    expected = hashlib.sha256(b"edu-001|k1|qwen-max|1m|2026-11-28T02:05:00Z").hexdigest()[:32]
    assert window_id(minute) == expected
    start = day_bounds_ms("Asia/Shanghai", date(2026, 11, 28))[0]
    assert start == day_bounds_ms("Asia/Singapore", date(2026, 11, 28))[0]  # same midnight instant
    shanghai = WindowKey("edu-001", "k1", "qwen-max", "1d", start, "Asia/Shanghai")
    singapore = shanghai._replace(zone="Asia/Singapore")
    assert window_id(shanghai) == hashlib.sha256(b"edu-001|k1|qwen-max|1d|2026-11-28 Asia/Shanghai").hexdigest()[:32]
    assert window_id(shanghai) != window_id(singapore)


def test_a_record_is_a_valid_window_aggregate_with_an_exact_cost() -> None:
    start = day_bounds_ms("Asia/Shanghai", date(2026, 11, 28))[0]
    key = WindowKey("edu-001", "k1", "qwen-max", "1d", start, "Asia/Shanghai")
    totals = Frozen(3, 3000, 1500, 200, 100, 50, Decimal("0.123456789012"))
    row = WindowRow(key, window_end_ms(key), totals, 2, to_ms(datetime(2026, 11, 29, 0, 0, 1, 5000, tzinfo=UTC)), 1)
    body = record(row)
    assert body["window_start"] == "2026-11-28T00:00:00+08:00"
    assert body["window_end"] == "2026-11-29T00:00:00+08:00"
    assert body["emitted_at"] == "2026-11-29T00:00:01.005Z"
    assert body["list_cost"] == "0.123456789012" and body["total_tokens"] == 4500
    assert orjson.loads(record_bytes(row)) == body  # the columnar writer writes the record
    odd = row._replace(key=key._replace(model='qwen "max"\\x'))
    assert orjson.loads(record_bytes(odd)) == record(odd)
    parsed = WindowAggregate.model_validate_json(record_bytes(row))
    assert parsed.list_cost == Decimal("0.123456789012") and parsed.revision == 2
    assert parsed.window_id == window_id(key)
    assert orjson.loads(parsed.model_dump_json())["list_cost"] == body["list_cost"]  # same exact text
    table = rows_table([row, row._replace(revision=0)])
    assert table.column("list_cost").to_pylist() == [Decimal("0.123456789012")] * 2
    assert table.column("window_date").to_pylist() == [date(2026, 11, 28)] * 2


def record_bytes(row: WindowRow) -> bytes:
    """The record the pipeline publishes for `row` (written from its table's columns)."""
    ((key, value),) = table_records(rows_table([row]))
    assert key == row.window_id.encode()
    return value


def test_costs_are_written_without_exponents_or_trailing_zeros() -> None:
    key = WindowKey("a", "k", "m", "1m", 0, "UTC")
    for cost, text in [("0E-12", "0"), ("100.000000000000", "100"), ("0.000000000001", "0.000000000001")]:
        row = WindowRow(key, 60_000, Frozen(1, 1, 0, 0, 0, 0, Decimal(cost)), 1, 0, 0)
        assert record(row)["list_cost"] == text


@st.composite
def window_rows(draw: st.DrawFn) -> WindowRow:
    granularity = draw(st.sampled_from(["1m", "1h", "1d"]))
    zone = draw(st.sampled_from(ZONES)) if granularity == "1d" else "UTC"
    instant = draw(st.integers(min_value=to_ms(datetime(2000, 1, 1, tzinfo=UTC)), max_value=4_102_444_800_000))
    if granularity == "1d":
        day = datetime.fromtimestamp(instant / 1000, UTC).date()
        start, end = day_bounds_ms(zone, day)
    else:
        step = 60_000 if granularity == "1m" else 3_600_000
        start = instant - instant % step
        end = start + step
    model = draw(st.sampled_from(["qwen-max", 'qwen "max"\\x', "模型-✓", "a\u2028b", "\x01"]))
    key = WindowKey(draw(st.sampled_from(["edu-001", "a"])), "k.1:x", model, granularity, start, zone)  # type: ignore[arg-type]
    units = draw(st.one_of(st.integers(0, 10**15), st.integers(0, 10**30), st.just(0), st.just(10**12)))
    counts = draw(st.lists(st.integers(0, 2**40), min_size=5, max_size=5))
    totals = Frozen(draw(st.integers(1, 10**6)), *counts, Decimal(units).scaleb(-12))  # type: ignore[arg-type]
    stamp = draw(st.integers(min_value=0, max_value=4_102_444_800_000))
    return WindowRow(key, end, totals, draw(st.integers(1, 2**31)), stamp, draw(st.integers(0, 63)))


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(window_rows(), min_size=1, max_size=20))
def test_the_columnar_writer_writes_what_the_reference_record_says(rows: list[WindowRow]) -> None:
    records = table_records(rows_table(rows))
    assert [key for key, _ in records] == [r.window_id.encode() for r in rows]
    for row, (_key, value) in zip(rows, records, strict=True):
        assert orjson.loads(value) == record(row)
        assert WindowAggregate.model_validate_json(value).list_cost == row.totals.list_cost
