"""The accepted event-time range: both ends hold in every time zone, in Python and in the
warehouse's column types; outside it an event is a `ts_out_of_range` dead letter."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fixtures.hostile import NOW, event
from usageflow.config import EventTimeSettings
from usageflow.errors import ConfigError, ValidationFailure
from usageflow.ingest.batch import RawRecord, process_batch
from usageflow.pricing.price_book import PriceBook
from usageflow.schemas import Account
from usageflow.schemas.decode import decode_event
from usageflow.schemas.event_time import SAFE_EARLIEST, SAFE_LATEST, EventTimeRange
from usageflow.streams.rated_rows import rated_events_table

pytestmark = pytest.mark.unit

BOOK = PriceBook()
RANGE = EventTimeRange(clock=lambda: NOW)
# What the warehouse columns hold: ts DateTime64(3, 'UTC'), billing_date Date.
DATETIME64_RANGE = (datetime(1900, 1, 1, tzinfo=UTC), datetime(2299, 12, 31, 23, 59, 59, tzinfo=UTC))
DATE_RANGE = (date(1970, 1, 1), date(2149, 6, 6))
EXTREME_ZONES = ["Pacific/Kiritimati", "Etc/GMT+12", "Etc/GMT-14", "America/Los_Angeles", "Asia/Shanghai", "UTC"]


def rate_one(raw: bytes, zone: str | None = None, event_times: EventTimeRange = RANGE):  # type: ignore[no-untyped-def]
    account = Account(account_id="hostile-edu", plan="standard", timezone=zone) if zone else None
    record = RawRecord(b"hostile-edu", raw, "usage.events", 0, 0)
    return process_batch([record], lambda _a: account, BOOK, event_times)


def assert_fits_the_warehouse(outcome) -> None:  # type: ignore[no-untyped-def]
    for rated in outcome.rated:
        assert DATETIME64_RANGE[0] <= rated.event.ts <= DATETIME64_RANGE[1]
        assert DATE_RANGE[0] <= rated.billing_date <= DATE_RANGE[1]
        assert rated.billing_month == f"{rated.billing_date.year:04d}-{rated.billing_date.month:02d}"
    if outcome.rated:
        table = rated_events_table(outcome.rated)
        assert table.num_rows == len(outcome.rated)


@pytest.mark.parametrize("zone", EXTREME_ZONES)
@pytest.mark.parametrize(
    ("ts", "accepted"),
    [
        ("2000-01-01T00:00:00Z", True),  # the earliest accepted instant
        ("1999-12-31T23:59:59.999Z", False),
        ("2000-01-01T09:59:59+10:00", False),  # the same instant written in another offset
        ("2026-11-30T12:05:00Z", True),  # now + the 5-minute allowance
        ("2026-11-30T12:05:00.001Z", False),
        ("2026-11-30T20:05:00+08:00", True),
        ("2026-11-30T20:05:01+08:00", False),
    ],
)
def test_both_ends_of_the_range_in_every_extreme_zone(zone: str, ts: str, accepted: bool) -> None:
    outcome = rate_one(json.dumps(event("e1", ts=ts)).encode(), zone)
    if accepted:
        assert len(outcome.rated) == 1 and not outcome.rejected
        assert_fits_the_warehouse(outcome)
    else:
        assert not outcome.rated
        assert [r.reason for r in outcome.rejected] == ["ts_out_of_range"]


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    offset_minutes=st.integers(-(24 * 60 - 1), 24 * 60 - 1),
    zone=st.sampled_from(sorted(available_timezones() - {"localtime", "Factory", "posixrules"})),
)
def test_any_timestamp_in_any_zone_is_rated_within_the_columns_or_refused(
    moment: datetime, offset_minutes: int, zone: str
) -> None:
    ts = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    outcome = rate_one(json.dumps(event("e1", ts=ts.isoformat())).encode(), zone)
    assert len(outcome.rated) + len(outcome.rejected) == 1
    if outcome.rejected:
        assert outcome.rejected[0].reason == "ts_out_of_range"
        assert not RANGE.earliest <= ts <= NOW + timedelta(minutes=5)
    else:
        assert RANGE.earliest <= ts <= NOW + timedelta(minutes=5)
        assert_fits_the_warehouse(outcome)


@settings(max_examples=100, deadline=None)
@given(
    earliest=st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2149, 6, 4)),
    zone=st.sampled_from(EXTREME_ZONES),
)
def test_the_widest_configurable_range_still_fits_in_every_zone(earliest: datetime, zone: str) -> None:
    wide = EventTimeRange(earliest=SAFE_EARLIEST, max_ahead=timedelta(days=365 * 500), clock=lambda: NOW)
    for ts in (earliest.replace(tzinfo=UTC), SAFE_EARLIEST, SAFE_LATEST):
        outcome = rate_one(json.dumps(event("e1", ts=ts.isoformat())).encode(), zone, wide)
        assert len(outcome.rated) == 1, outcome.rejected
        assert_fits_the_warehouse(outcome)
    assert wide.window().latest == SAFE_LATEST  # a far clock allowance is capped at the columns' end


def test_the_upper_end_follows_the_clock() -> None:
    moments = iter([NOW, NOW + timedelta(hours=2)])
    moving = EventTimeRange(clock=lambda: next(moments))
    raw = json.dumps(event("e1", ts="2026-11-30T13:00:00Z")).encode()
    with pytest.raises(ValidationFailure) as info:
        decode_event(raw, moving.window())
    assert info.value.reason == "ts_out_of_range" and "after the latest" in info.value.message
    assert decode_event(raw, moving.window()).event_id == "e1"  # an hour later it is in the past


def test_the_range_cannot_be_configured_past_what_the_columns_hold() -> None:
    with pytest.raises(ConfigError):
        EventTimeRange(earliest=datetime(1969, 12, 31, tzinfo=UTC))
    with pytest.raises(ConfigError):
        EventTimeRange(earliest=datetime(2150, 1, 1, tzinfo=UTC))
    with pytest.raises(ConfigError):
        EventTimeRange(earliest=datetime(2000, 1, 1))  # naive
    with pytest.raises(ConfigError):
        EventTimeRange(max_ahead=timedelta(seconds=-1))


def test_the_range_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USAGEFLOW_EVENT_TIME_EARLIEST", "2020-06-01T00:00:00+08:00")
    monkeypatch.setenv("USAGEFLOW_EVENT_TIME_MAX_AHEAD_S", "60")
    configured = EventTimeRange.from_settings(EventTimeSettings())
    assert configured.earliest == datetime(2020, 5, 31, 16, tzinfo=UTC)
    assert configured.max_ahead == timedelta(minutes=1)
    monkeypatch.delenv("USAGEFLOW_EVENT_TIME_EARLIEST")
    monkeypatch.delenv("USAGEFLOW_EVENT_TIME_MAX_AHEAD_S")
    defaults = EventTimeSettings(_env_file=None)  # type: ignore[call-arg]
    assert (defaults.earliest, defaults.max_ahead_s) == (datetime(2000, 1, 1, tzinfo=UTC), 300)


def test_a_future_event_never_moves_the_batch_clock() -> None:
    """The 2040 event is refused before rating: only real events reach the live side."""
    records = [
        RawRecord(b"a", json.dumps(event("future", ts="2040-01-01T00:00:00Z")).encode(), "usage.events", 0, 0),
        RawRecord(b"a", json.dumps(event("real", ts="2026-11-30T11:00:00Z")).encode(), "usage.events", 0, 1),
    ]
    outcome = process_batch(records, lambda _a: None, BOOK, RANGE)
    assert [r.event.event_id for r in outcome.rated] == ["real"]
    assert [(r.record.offset, r.reason) for r in outcome.rejected] == [(0, "ts_out_of_range")]
    assert max(r.event.ts for r in outcome.rated) < NOW


def test_local_dates_at_the_safe_ends_exist_in_every_zone() -> None:
    for name in available_timezones() - {"localtime", "Factory", "posixrules"}:
        zone = ZoneInfo(name)
        assert SAFE_EARLIEST.astimezone(zone).date() >= DATE_RANGE[0], name
        assert SAFE_LATEST.astimezone(zone).date() <= DATE_RANGE[1], name
