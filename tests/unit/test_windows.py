"""Tumbling 1m / 1h / 1d windows per (account, key, model): counters, draining, lateness."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import Account, UsageEvent
from usageflow.alerting.events import LiveEvent
from usageflow.alerting.windows import WindowAggregator, is_late, window_bounds
from usageflow.pricing.price_book import PriceBook
from usageflow.pricing.rating import rate_event

pytestmark = pytest.mark.unit

SH = "Asia/Shanghai"
LA = "America/Los_Angeles"


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def ev(
    when: str,
    tokens_in: int = 100,
    tokens_out: int = 50,
    *,
    cost: str = "0.0009",
    account: str = "a1",
    key: str = "k1",
    model: str = "qwen-max",
    tz: str = SH,
    late: bool = False,
) -> LiveEvent:
    return LiveEvent(
        account_id=account,
        api_key_id=key,
        model=model,
        ts=ts(when),
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        list_cost=Decimal(cost),
        tz=tz,
        late=late,
    )


def test_is_late_edges() -> None:
    newest = ts("2026-11-28T10:00:00+00:00")
    assert not is_late(newest - timedelta(hours=48), newest)
    assert is_late(newest - timedelta(hours=48, microseconds=1), newest)
    assert not is_late(newest + timedelta(hours=1), newest)
    assert not is_late(newest - timedelta(days=30), None)
    assert is_late(newest - timedelta(minutes=11), newest, allowed=timedelta(minutes=10))


def test_window_bounds() -> None:
    t = ts("2026-11-28T10:17:45.5+08:00")
    assert window_bounds(t, "1m", SH) == (ts("2026-11-28T02:17:00+00:00"), ts("2026-11-28T02:18:00+00:00"))
    assert window_bounds(t, "1h", SH) == (ts("2026-11-28T02:00:00+00:00"), ts("2026-11-28T03:00:00+00:00"))
    assert window_bounds(t, "1d", SH) == (ts("2026-11-27T16:00:00+00:00"), ts("2026-11-28T16:00:00+00:00"))
    # 1h is UTC-aligned even in a half-hour zone; 1d follows the local day
    k = ts("2026-11-28T00:10:00+05:30")
    assert window_bounds(k, "1h", "Asia/Kolkata")[0] == ts("2026-11-27T18:00:00+00:00")
    assert window_bounds(k, "1d", "Asia/Kolkata")[0] == ts("2026-11-27T18:30:00+00:00")


def test_day_window_on_dst_day() -> None:
    start, end = window_bounds(ts("2026-03-08T12:00:00-07:00"), "1d", LA)
    assert end - start == timedelta(hours=23)
    start, end = window_bounds(ts("2026-11-01T12:00:00-08:00"), "1d", LA)
    assert end - start == timedelta(hours=25)


def test_counters_per_window_and_key() -> None:
    agg = WindowAggregator()
    assert agg.add(ev("2026-11-28T10:00:10+08:00", 100, 50, cost="0.0009"))
    assert agg.add(ev("2026-11-28T10:00:50+08:00", 200, 0, cost="0.00084"))
    agg.add(ev("2026-11-28T10:01:00+08:00", 1, 1, cost="0.000012"))
    agg.add(ev("2026-11-28T10:00:30+08:00", 7, 0, model="qwen-plus", cost="0.0000336"))
    agg.add(ev("2026-11-28T10:00:30+08:00", 9, 0, key="k2"))
    minutes = agg.current("a1", "1m")
    first = next(r for r in minutes if r.api_key_id == "k1" and r.model == "qwen-max")
    assert first.window_start == ts("2026-11-28T02:00:00+00:00")
    assert (first.requests, first.input_tokens, first.output_tokens, first.total_tokens) == (2, 300, 50, 350)
    assert first.list_cost == Decimal("0.00174")
    assert len(minutes) == 4  # (k1, max) x 2 minutes, (k1, plus), (k2, max)
    hours = agg.current("a1", "1h")
    hour = next(r for r in hours if r.api_key_id == "k1" and r.model == "qwen-max")
    assert (hour.requests, hour.total_tokens, hour.list_cost) == (3, 352, Decimal("0.001752"))
    days = agg.current("a1", "1d")
    assert sum(r.requests for r in days) == 5
    assert agg.current("nobody", "1m") == []


def test_drain_emits_closed_windows_once_with_full_counters() -> None:
    agg = WindowAggregator(granularities=("1m", "1h"))
    agg.add(ev("2026-11-28T10:00:10+08:00"))
    agg.add(ev("2026-11-28T10:00:20+08:00"))
    assert agg.drain_closed(ts("2026-11-28T10:00:59.999999+08:00")) == []
    rows = agg.drain_closed(ts("2026-11-28T10:01:00+08:00"))  # end <= watermark closes
    assert [(r.granularity, r.requests, r.revision) for r in rows] == [("1m", 2, 1)]
    assert agg.current("a1", "1m") == []
    assert [r.requests for r in agg.current("a1", "1m", include_closed=True)] == [2]
    assert agg.drain_closed(ts("2026-11-28T10:30:00+08:00")) == []
    # an allowed-late event re-opens the closed minute: re-emitted with full counters
    assert agg.add(ev("2026-11-28T10:00:30+08:00"))
    rows = agg.drain_closed(ts("2026-11-28T11:00:00+08:00"))
    assert [(r.granularity, r.requests, r.revision) for r in rows] == [("1m", 3, 2), ("1h", 3, 1)]
    assert rows[0].to_json()["window_start"] == "2026-11-28T02:00:00+00:00"
    assert rows[0].to_json()["list_cost"] == "0.0027"


def test_windows_are_dropped_after_lateness_and_refuse_late_events() -> None:
    agg = WindowAggregator(allowed_lateness=timedelta(hours=1))
    agg.add(ev("2026-11-28T10:00:10+08:00"))
    assert len(agg) == 3
    rows = agg.drain_closed(ts("2026-11-28T10:30:00+08:00"))
    assert [r.granularity for r in rows] == ["1m"]
    assert len(agg) == 3  # the minute is closed but kept for lateness
    rows = agg.drain_closed(ts("2026-11-28T11:30:00+08:00"))
    assert [r.granularity for r in rows] == ["1h"]
    assert len(agg) == 2  # the minute ended before 10:30 (watermark - lateness): dropped
    assert not agg.add(ev("2026-11-28T10:00:40+08:00"))  # its minute is gone
    assert agg.current("a1", "1d")[0].requests == 1
    assert agg.add(ev("2026-11-28T11:00:00+08:00"))
    rows = agg.drain_closed(ts("2026-11-29T02:00:00+08:00"))
    assert [(r.granularity, r.requests) for r in rows] == [("1m", 1), ("1h", 1), ("1d", 2)]
    assert len(agg) == 0


def test_flagged_late_events_are_skipped() -> None:
    agg = WindowAggregator()
    assert not agg.add(ev("2026-11-28T10:00:10+08:00", late=True))
    assert len(agg) == 0


def test_rated_events_are_accepted() -> None:
    event = UsageEvent.model_validate(
        {
            "schema_version": 1,
            "event_id": "e1",
            "account_id": "edu-001",
            "api_key_id": "k",
            "model": "qwen-max",
            "region": "us-west",
            "input_tokens": 1000,
            "output_tokens": 500,
            "ts": "2026-11-28T23:30:00-08:00",
            "latency_ms": 120,
        }
    )
    rated = rate_event(event, Account(account_id="edu-001", timezone=LA), PriceBook())
    agg = WindowAggregator()
    assert agg.add(rated)
    (day,) = agg.current("edu-001", "1d")
    assert day.window_start == ts("2026-11-28T08:00:00+00:00")  # LA day, not Shanghai
    assert (day.total_tokens, day.list_cost) == (1500, Decimal("0.009"))


def test_round_trip_through_json() -> None:
    agg = WindowAggregator()
    for i in range(5):
        agg.add(ev(f"2026-11-28T10:0{i}:10+08:00", cost=f"0.00{i}1"))
    agg.drain_closed(ts("2026-11-28T10:02:00+08:00"))
    restored = WindowAggregator.from_dict(json.loads(json.dumps(agg.to_dict())))
    assert restored.to_dict() == agg.to_dict()
    wm = ts("2026-11-29T00:00:00+08:00")
    assert restored.drain_closed(wm) == agg.drain_closed(wm)


EVENTS = st.lists(
    st.tuples(
        st.integers(0, 3 * 86_400 - 1),  # seconds into three days
        st.integers(0, 1000),
        st.integers(0, 1000),
        st.sampled_from(["k1", "k2"]),
        st.decimals(min_value=0, max_value=1, places=9),
    ),
    max_size=40,
)


@given(EVENTS, st.sampled_from([SH, LA]))
def test_every_granularity_sums_to_the_same_totals(items: list[tuple[int, int, int, str, Decimal]], tz: str) -> None:
    base = datetime(2026, 3, 7, tzinfo=UTC)
    agg = WindowAggregator(allowed_lateness=timedelta(days=10))
    for seconds, tin, tout, key, cost in items:
        agg.add(LiveEvent("a", key, "qwen-max", base + timedelta(seconds=seconds), tin, tout, cost, tz))
    rows = agg.drain_closed(base + timedelta(days=5))
    for granularity in ("1m", "1h", "1d"):
        mine = [r for r in rows if r.granularity == granularity]
        assert sum(r.requests for r in mine) == len(items)
        assert sum(r.total_tokens for r in mine) == sum(i[1] + i[2] for i in items)
        assert sum((r.list_cost for r in mine), Decimal(0)) == sum((i[4] for i in items), Decimal(0))
        assert all(r.window_start < r.window_end for r in mine)
