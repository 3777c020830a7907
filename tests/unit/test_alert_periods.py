"""Account-local days and months (docs/events.md): keys and UTC bounds, DST days of 23 h and 25 h."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usageflow.alerting.periods import (
    day_bounds,
    day_key,
    day_period,
    from_us,
    local_date,
    month_bounds,
    month_key,
    month_of_day,
    month_period,
    shift_day,
    shift_month,
    to_us,
)

pytestmark = pytest.mark.unit

LA = "America/Los_Angeles"
SH = "Asia/Shanghai"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_keys_are_account_local() -> None:
    ts = datetime.fromisoformat("2026-11-27T16:30:00+00:00")  # 00:30 on the 28th in Shanghai
    assert day_key(ts, SH) == "2026-11-28"
    assert day_key(ts, "UTC") == "2026-11-27"
    assert day_key(ts, LA) == "2026-11-27"
    assert month_key(utc(2026, 11, 30, 16, 0), SH) == "2026-12"
    assert month_key(utc(2026, 11, 30, 15, 59, 59), SH) == "2026-11"
    assert local_date(ts, ZoneInfo(SH)) == date(2026, 11, 28)


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        day_key(datetime(2026, 11, 28, 10, 0), SH)


def test_ordinary_day_is_24h() -> None:
    start, end = day_bounds("2026-11-28", SH)
    assert start == utc(2026, 11, 27, 16, 0)
    assert end == utc(2026, 11, 28, 16, 0)


def test_la_spring_forward_day_is_23h() -> None:
    start, end = day_bounds("2026-03-08", LA)
    assert start == utc(2026, 3, 8, 8, 0)  # 00:00 PST
    assert end == utc(2026, 3, 9, 7, 0)  # 00:00 PDT
    assert end - start == timedelta(hours=23)
    period = day_period(utc(2026, 3, 8, 20, 0), LA)
    assert period.key == "2026-03-08"
    assert period.duration == timedelta(hours=23)


def test_la_fall_back_day_is_25h() -> None:
    start, end = day_bounds(date(2026, 11, 1), LA)
    assert start == utc(2026, 11, 1, 7, 0)  # 00:00 PDT
    assert end == utc(2026, 11, 2, 8, 0)  # 00:00 PST
    assert end - start == timedelta(hours=25)
    # both 01:30s of the repeated hour belong to the same local day
    first = datetime.fromisoformat("2026-11-01T01:30:00-07:00")
    second = datetime.fromisoformat("2026-11-01T01:30:00-08:00")
    assert day_key(first, LA) == day_key(second, LA) == "2026-11-01"
    assert day_key(end - timedelta(microseconds=1), LA) == "2026-11-01"
    assert day_key(end, LA) == "2026-11-02"


def test_midnight_skipped_by_dst_starts_the_day_at_the_transition() -> None:
    # Cuba springs forward at 00:00 -> 01:00: the day starts at the transition instant
    start, end = day_bounds("2026-03-08", "America/Havana")
    assert start == utc(2026, 3, 8, 5, 0)
    assert end - start == timedelta(hours=23)
    assert day_key(start, "America/Havana") == "2026-03-08"
    assert day_key(start - timedelta(microseconds=1), "America/Havana") == "2026-03-07"


def test_month_bounds() -> None:
    start, end = month_bounds("2026-03", LA)
    assert start == utc(2026, 3, 1, 8, 0)
    assert end == utc(2026, 4, 1, 7, 0)
    start, end = month_bounds("2026-12", SH)
    assert start == utc(2026, 11, 30, 16, 0)
    assert end == utc(2026, 12, 31, 16, 0)
    period = month_period(utc(2026, 11, 30, 16, 0), SH)
    assert (period.key, period.start, period.end) == ("2026-12", start, end)
    with pytest.raises(ValueError):
        month_bounds("2026-13", SH)


def test_key_arithmetic() -> None:
    assert shift_month("2026-12", 1) == "2027-01"
    assert shift_month("2026-01", -1) == "2025-12"
    assert shift_month("2026-11", -14) == "2025-09"
    assert shift_day("2026-03-01", -1) == "2026-02-28"
    assert month_of_day("2026-11-28") == "2026-11"


def test_microsecond_round_trip() -> None:
    ts = datetime.fromisoformat("2026-11-28T10:00:00.123456+08:00")
    assert from_us(to_us(ts)) == ts
    assert to_us(utc(1970, 1, 1)) == 0
    assert to_us(utc(1969, 12, 31, 23, 59, 59)) == -1_000_000


ZONES = st.sampled_from([SH, LA, "UTC", "Asia/Kolkata", "Australia/Lord_Howe", "America/Havana", "Europe/London"])
INSTANTS = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC))


@given(ts=INSTANTS, tz=ZONES)
def test_every_instant_lies_in_its_day_and_month(ts: datetime, tz: str) -> None:
    day = day_period(ts, tz)
    assert day.start <= ts < day.end
    assert day_key(day.start, tz) == day.key
    assert day_key(day.end - timedelta(microseconds=1), tz) == day.key
    assert day_key(day.end, tz) != day.key
    month = month_period(ts, tz)
    assert month.start <= ts < month.end
    assert month.key == month_of_day(day.key)
    assert month.start <= day.start and day.end <= month.end
