"""Alert rules and live account state: levels, limits, periods, fire-once, restore."""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usageflow.alerting.events import LiveEvent
from usageflow.alerting.rules import (
    BudgetEstimator,
    RuleConfig,
    account_limits,
    alert_id,
    budget_estimate,
    crossed_levels,
    level_str,
    make_alert,
)
from usageflow.alerting.state import AccountLiveState
from usageflow.pricing.price_book import PriceBook
from usageflow.pricing.rating import rate_event
from usageflow.schemas import Account, Alert, UsageEvent

pytestmark = pytest.mark.unit

BOOK = PriceBook()
NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
SH = "Asia/Shanghai"
LA = "America/Los_Angeles"
ACC = "edu-001"
PER_TOKEN = Decimal("0.000006")  # flagship, peak, us-west


def account(plan: str = "standard", **over: object) -> Account:
    return Account.model_validate({"account_id": ACC, "plan": plan, **over})


def ev(
    when: str,
    tokens: int,
    *,
    latency_ms: int = 0,
    cost: Decimal | None = None,
    tz: str = SH,
    late: bool = False,
    acc: str = ACC,
) -> LiveEvent:
    return LiveEvent(
        account_id=acc,
        api_key_id="k1",
        model="qwen-max",
        ts=datetime.fromisoformat(when),
        input_tokens=tokens,
        output_tokens=0,
        list_cost=tokens * PER_TOKEN if cost is None else cost,
        tz=tz,
        latency_ms=latency_ms,
        late=late,
    )


def keys(alerts: list[Alert]) -> set[tuple[str, str, str]]:
    return {(a.type, a.period, level_str(a.level)) for a in alerts}


# --- rules ------------------------------------------------------------------------------


def test_alert_id_is_deterministic_and_level_canonical() -> None:
    expected = hashlib.sha256(b"edu-001|budget|2026-11|0.8").hexdigest()[:32]
    assert alert_id(ACC, "budget", "2026-11", Decimal("0.80")) == expected
    assert alert_id(ACC, "budget", "2026-11", "0.8") == expected
    assert alert_id(ACC, "budget", "2026-11", Decimal("1.0")) == alert_id(ACC, "budget", "2026-11", "1")
    assert alert_id(ACC, "budget", "2026-12", "0.8") != expected
    assert level_str(Decimal("0.750")) == "0.75"
    assert level_str(Decimal("1E+1")) == "10"


def test_rule_config_levels() -> None:
    cfg = RuleConfig()
    assert cfg.levels("daily_usage") == (Decimal("0.8"),)
    assert cfg.levels("monthly_usage") == (Decimal("0.9"),)
    assert cfg.levels("concurrency") == (Decimal("0.75"),)
    assert cfg.levels("budget") == (Decimal("0.5"), Decimal("0.8"), Decimal("1"))
    custom = RuleConfig(monthly_usage=(Decimal("1.0"), Decimal("0.5"), Decimal("0.50")), budget=())
    assert custom.levels("monthly_usage") == (Decimal("0.5"), Decimal("1"))
    assert custom.levels("budget") == ()
    with pytest.raises(ValueError):
        RuleConfig(daily_usage=(Decimal(0),))


def test_limits_include_custom_plan_additions() -> None:
    limits = account_limits(account("starter", extra_tokens=100_000, extra_concurrent=3), BOOK)
    assert (limits.plan, limits.monthly_tokens, limits.max_concurrent) == ("starter", 600_000, 8)
    assert limits.limit("daily_usage") == 20_000
    assert limits.limit("budget") is None
    payg = account_limits(account("payg", monthly_budget="50"), BOOK)
    assert (payg.plan, payg.limit("monthly_usage"), payg.limit("budget")) == ("payg", None, 50)
    assert account_limits(None, BOOK).plan == "payg"
    assert account_limits(account("standard", monthly_budget="0"), BOOK).limit("budget") is None


def test_crossed_levels_is_inclusive() -> None:
    limit = Fraction(100)
    levels = [Decimal("0.5"), Decimal("0.8"), Decimal("1")]
    assert crossed_levels(49, limit, levels) == []
    assert crossed_levels(50, limit, levels) == [Decimal("0.5")]
    assert crossed_levels(Decimal("100.00"), limit, levels) == levels


def test_make_alert_fields() -> None:
    limits = account_limits(account("standard"), BOOK)
    daily = limits.limit("daily_usage")
    assert daily is not None
    alert = make_alert(
        account_id=ACC,
        rule_type="daily_usage",
        period="2026-11-28",
        level=Decimal("0.80"),
        value=53_334,
        limit=daily,
        triggered_at=datetime.fromisoformat("2026-11-28T10:00:00+08:00"),
        emitted_at=NOW,
        plan="standard",
    )
    assert alert.limit == Decimal("66666.67")  # 2,000,000 / 30, shown to the fen
    assert alert.percentage == Decimal("80.00")  # 80.001 %
    assert alert.level == Decimal("0.8")
    assert alert.value == 53_334
    assert alert.alert_id == alert_id(ACC, "daily_usage", "2026-11-28", "0.8")
    Alert.model_validate_json(alert.model_dump_json())


# --- budget estimate (the month-to-date invoice total) ----------------------------------


def test_budget_estimate_payg_matches_spec_tier_example() -> None:
    # the tier example: 600,000 flagship peak us-west tokens: L = 3.6, M = 0.9 -> 3.24
    assert budget_estimate(BOOK, None, 600_000, Decimal("3.6")) == Decimal("3.24")
    assert budget_estimate(BOOK, None, 0, Decimal(0)) == Decimal("0.00")


def test_budget_estimate_standard_with_contract_and_educational_discounts() -> None:
    acc = account("standard", contract_months=12, educational=True)
    # 2.6M tokens, L = 15.6: overage 600,000, W = 540,000, usage = 15.6 × 540000 / 2600000 = 3.24
    # subtotal 1002.24; contract −150.336 → −150.34; running 851.904;
    # educational −170.3808 → −170.38; total 999.00 + 3.24 − 150.34 − 170.38 = 681.52
    assert budget_estimate(BOOK, acc, 2_600_000, Decimal("15.6")) == Decimal("681.52")


def test_budget_estimate_plan_fee_all_discounts_and_custom_plan() -> None:
    acc = account("standard", prepaid=True, contract_months=24, educational=True)
    # 999.00 − 99.90 − 134.865→134.87 − 152.847→152.85 = 611.38 (no overage)
    assert budget_estimate(BOOK, acc, 1_000, Decimal("0.006")) == Decimal("611.38")
    custom = account("standard", extra_tokens=500_000, extra_concurrent=2)
    # fee 999 + 500,000/1000 × 0.004 + 2 × 50 = 1101.00; 2.5M tokens are within the quota
    assert budget_estimate(BOOK, custom, 2_500_000, Decimal("15")) == Decimal("1101.00")


# --- state: thresholds ------------------------------------------------------------------


def test_daily_usage_fires_at_exactly_the_level_not_below() -> None:
    acc = account("starter", extra_tokens=2_500_000)  # 3,000,000 a month: 100,000 a day
    state = AccountLiveState(ACC)
    assert state.apply([ev("2026-11-28T10:00:00+08:00", 79_999)], acc, BOOK, NOW) == []
    (alert,) = state.apply([ev("2026-11-28T10:05:00+08:00", 1)], acc, BOOK, NOW)
    assert (alert.type, alert.period, alert.level) == ("daily_usage", "2026-11-28", Decimal("0.8"))
    assert (alert.value, alert.limit, alert.percentage) == (80_000, 100_000, Decimal("80.00"))
    assert alert.triggered_at == datetime.fromisoformat("2026-11-28T10:05:00+08:00")
    assert (alert.emitted_at, alert.plan, alert.account_id) == (NOW, "starter", ACC)


def test_daily_limit_with_non_decimal_limit() -> None:
    acc = account("standard")  # 66,666.67 a day; 0.8 → 53,333.33…
    state = AccountLiveState(ACC)
    assert state.apply([ev("2026-11-28T10:00:00+08:00", 53_333)], acc, BOOK, NOW) == []
    (alert,) = state.apply([ev("2026-11-28T10:00:01+08:00", 1)], acc, BOOK, NOW)
    assert alert.type == "daily_usage" and alert.value == 53_334


def test_monthly_usage_at_and_below_level() -> None:
    acc = account("standard")
    state = AccountLiveState(ACC, keep_days=40)
    batch = [ev(f"2026-11-{day:02d}T12:00:00+08:00", 59_999) for day in range(1, 31)]  # 1,799,970
    cfg = RuleConfig(daily_usage=())
    assert state.apply(batch, acc, BOOK, NOW, cfg) == []
    assert state.apply([ev("2026-11-30T13:00:00+08:00", 29)], acc, BOOK, NOW, cfg) == []  # 1,799,999
    (alert,) = state.apply([ev("2026-11-30T13:00:01+08:00", 1)], acc, BOOK, NOW, cfg)
    assert (alert.type, alert.period, alert.value, alert.limit) == ("monthly_usage", "2026-11", 1_800_000, 2_000_000)
    assert alert.percentage == Decimal("90.00")


def test_all_levels_crossed_by_one_event_fire_together() -> None:
    acc = account("payg", monthly_budget="100")
    state = AccountLiveState(ACC)
    alerts = state.apply([ev("2026-11-28T10:00:00+08:00", 50_000, cost=Decimal("120"))], acc, BOOK, NOW)
    assert [(a.type, a.level) for a in alerts] == [
        ("budget", Decimal("0.5")),
        ("budget", Decimal("0.8")),
        ("budget", Decimal("1")),
    ]
    assert {a.value for a in alerts} == {Decimal("120.00")}
    assert {a.percentage for a in alerts} == {Decimal("120.00")}
    assert len({a.alert_id for a in alerts}) == 3


def test_each_crossing_in_a_batch_is_timed_by_its_own_event() -> None:
    acc = account("starter", extra_tokens=2_500_000)
    cfg = RuleConfig(daily_usage=(Decimal("0.5"), Decimal("0.8")))
    batch = [
        ev("2026-11-28T12:00:00+08:00", 30_000),  # given out of order
        ev("2026-11-28T09:00:00+08:00", 50_000),
        ev("2026-11-28T10:00:00+08:00", 10_000),
    ]
    alerts = AccountLiveState(ACC).apply(batch, acc, BOOK, NOW, cfg)
    got = [(a.level, a.value, a.triggered_at.isoformat()) for a in alerts]
    assert got == [
        (Decimal("0.5"), 50_000, "2026-11-28T09:00:00+08:00"),
        (Decimal("0.8"), 90_000, "2026-11-28T12:00:00+08:00"),
    ]


def test_duplicate_crossings_do_not_refire() -> None:
    acc = account("standard")
    state = AccountLiveState(ACC)
    batch = [ev("2026-11-28T10:00:00+08:00", 1_900_000)]
    first = state.apply(batch, acc, BOOK, NOW)
    assert keys(first) == {("daily_usage", "2026-11-28", "0.8"), ("monthly_usage", "2026-11", "0.9")}
    assert state.apply(batch, acc, BOOK, NOW) == []
    assert state.apply([ev("2026-11-28T11:00:00+08:00", 1)], acc, BOOK, NOW) == []
    # a new day fires the daily rule again, the month does not
    again = state.apply([ev("2026-11-29T10:00:00+08:00", 60_000)], acc, BOOK, NOW)
    assert keys(again) == {("daily_usage", "2026-11-29", "0.8")}


# --- periods ----------------------------------------------------------------------------


def test_day_rolls_over_at_shanghai_midnight() -> None:
    acc = account("starter", extra_tokens=2_500_000)  # 80,000 tokens fire the daily rule
    state = AccountLiveState(ACC)
    state.apply([ev("2026-11-28T23:59:59+08:00", 79_999)], acc, BOOK, NOW)
    assert state.apply([ev("2026-11-29T00:00:00+08:00", 1)], acc, BOOK, NOW) == []
    assert state.day_tokens == {"2026-11-28": 79_999, "2026-11-29": 1}
    (alert,) = state.apply([ev("2026-11-28T23:59:59.999+08:00", 1)], acc, BOOK, NOW)
    assert alert.period == "2026-11-28"


def test_day_rolls_over_at_los_angeles_midnight_on_a_25h_day() -> None:
    acc = account("starter", extra_tokens=2_500_000, timezone=LA)
    state = AccountLiveState(ACC)
    batch = [
        ev("2026-11-01T00:30:00-07:00", 40_000, tz=LA),  # PDT, 07:30 UTC
        ev("2026-11-01T23:30:00-08:00", 39_999, tz=LA),  # PST, same local day 25 h later
        ev("2026-11-02T00:00:00-08:00", 5, tz=LA),
    ]
    assert state.apply(batch, acc, BOOK, NOW) == []
    assert state.day_tokens == {"2026-11-01": 79_999, "2026-11-02": 5}
    (alert,) = state.apply([ev("2026-11-02T07:59:59+00:00", 1, tz=LA)], acc, BOOK, NOW)
    assert alert.period == "2026-11-01"  # 23:59:59 PST


def test_month_periods_are_local_and_fire_once_each() -> None:
    acc = account("standard", timezone=LA)
    cfg = RuleConfig(daily_usage=())
    state = AccountLiveState(ACC)
    # 2026-12-01T05:00Z is still November in Los Angeles
    a = state.apply([ev("2026-12-01T05:00:00+00:00", 1_800_000, tz=LA)], acc, BOOK, NOW, cfg)
    b = state.apply([ev("2026-12-01T09:00:00+00:00", 1_800_000, tz=LA)], acc, BOOK, NOW, cfg)
    assert [x.period for x in a] == ["2026-11"] and [x.period for x in b] == ["2026-12"]
    assert state.month_tokens == {"2026-11": 1_800_000, "2026-12": 1_800_000}


def test_late_but_kept_period_counts_in_its_own_period() -> None:
    acc = account("standard")
    state = AccountLiveState(ACC)
    state.apply([ev("2026-11-30T20:00:00+08:00", 1_799_999)], acc, BOOK, NOW, RuleConfig(daily_usage=()))
    state.apply([ev("2026-12-01T10:00:00+08:00", 10)], acc, BOOK, NOW)
    (alert,) = state.apply([ev("2026-11-30T21:00:00+08:00", 1)], acc, BOOK, NOW, RuleConfig(daily_usage=()))
    assert (alert.type, alert.period) == ("monthly_usage", "2026-11")


def test_old_periods_are_pruned() -> None:
    acc = account("standard")
    state = AccountLiveState(ACC)
    state.apply([ev("2026-10-28T10:00:00+08:00", 1_900_000)], acc, BOOK, NOW)
    assert state.fired
    state.apply([ev("2026-12-30T10:00:00+08:00", 1)], acc, BOOK, NOW)
    assert set(state.day_tokens) == {"2026-12-30"}  # 4 days are kept
    assert set(state.month_tokens) == {"2026-10", "2026-12"}  # 3 months are kept
    assert ("monthly_usage", "2026-10", "0.9") in state.fired
    state.apply([ev("2027-01-02T10:00:00+08:00", 1)], acc, BOOK, NOW)
    assert set(state.day_tokens) == {"2026-12-30", "2027-01-02"}
    assert set(state.month_tokens) == {"2026-12", "2027-01"}
    assert state.fired == set()
    assert state.apply([ev("2026-10-28T11:00:00+08:00", 1_900_000)], acc, BOOK, NOW) == []  # too old


def test_flagged_late_events_are_never_applied() -> None:
    acc = account("standard", monthly_budget="10")
    state = AccountLiveState(ACC)
    assert state.apply([ev("2026-11-28T10:00:00+08:00", 5_000_000, late=True)], acc, BOOK, NOW) == []
    assert state.month_tokens == {} and len(state.concurrency) == 0


# --- plans ------------------------------------------------------------------------------


def test_payg_gets_only_budget_alerts() -> None:
    acc = account("payg", monthly_budget="10")
    state = AccountLiveState(ACC)
    batch = [ev("2026-11-28T10:00:00+08:00", 5_000_000, latency_ms=60_000) for _ in range(3)]
    alerts = state.apply(batch, acc, BOOK, NOW)
    assert {a.type for a in alerts} == {"budget"}
    assert {a.plan for a in alerts} == {"payg"}


def test_unknown_account_is_payg_without_budget() -> None:
    state = AccountLiveState(ACC)
    assert state.apply([ev("2026-11-28T10:00:00+08:00", 50_000_000)], None, BOOK, NOW) == []


def test_no_budget_no_budget_alerts() -> None:
    alerts = AccountLiveState(ACC).apply([ev("2026-11-28T10:00:00+08:00", 5_000_000)], account("standard"), BOOK, NOW)
    assert "budget" not in {a.type for a in alerts}


def test_budget_includes_the_plan_fee() -> None:
    acc = account("standard", monthly_budget="2000")  # 0.5 → 1000 CNY; the fee alone is 999
    state = AccountLiveState(ACC)
    assert (
        state.apply(
            [ev("2026-11-10T10:00:00+08:00", 2_000_000)], acc, BOOK, NOW, RuleConfig(daily_usage=(), monthly_usage=())
        )
        == []
    )
    # +200,000 overage: L = 13.2, W = 190,000, usage = 13.2 × 190000 / 2200000 = 1.14
    cfg = RuleConfig(daily_usage=(), monthly_usage=())
    (alert,) = state.apply([ev("2026-11-11T10:00:00+08:00", 200_000)], acc, BOOK, NOW, cfg)
    assert (alert.type, alert.level, alert.value) == ("budget", Decimal("0.5"), Decimal("1000.14"))
    assert (alert.limit, alert.percentage) == (Decimal("2000"), Decimal("50.01"))


def test_concurrency_alert_with_custom_limit() -> None:
    acc = account("starter", extra_concurrent=3)  # 8 concurrent: 0.75 → 6
    state = AccountLiveState(ACC)
    batch = [ev(f"2026-11-28T10:00:{10 + i:02d}+08:00", 10, latency_ms=60_000) for i in range(5)]
    assert state.apply(batch, acc, BOOK, NOW) == []
    # touches the last one's start exactly: [10:00:14 − 60 s... ] all cover 10:00:10
    (alert,) = state.apply([ev("2026-11-28T10:00:10+08:00", 10, latency_ms=0)], acc, BOOK, NOW)
    assert (alert.type, alert.period, alert.value, alert.limit) == ("concurrency", "2026-11-28", 6, 8)
    assert alert.percentage == Decimal("75.00")


def test_concurrency_intervals_that_only_touch() -> None:
    acc = account("starter")  # 5 concurrent: 0.75 → 3.75, fires at 4
    state = AccountLiveState(ACC)
    # [10:00:00, 10:00:10] ×3 and one [10:00:10, 10:00:20]: 4 in flight at 10:00:10
    batch = [ev("2026-11-28T10:00:10+08:00", 1, latency_ms=10_000) for _ in range(3)]
    batch.append(ev("2026-11-28T10:00:21+08:00", 1, latency_ms=10_000))  # [11, 21]: no overlap
    assert state.apply(batch, acc, BOOK, NOW) == []
    (alert,) = state.apply([ev("2026-11-28T10:00:20+08:00", 1, latency_ms=10_000)], acc, BOOK, NOW)
    assert alert.value == 4


# --- restore ----------------------------------------------------------------------------


def test_round_trip_preserves_counters_and_fired_keys() -> None:
    acc = account("standard", monthly_budget="1000")
    state = AccountLiveState(ACC)
    batch = [ev("2026-11-28T10:00:00+08:00", 1_900_000, latency_ms=5_000)]
    fired = state.apply(batch, acc, BOOK, NOW)
    assert keys(fired) == {
        ("daily_usage", "2026-11-28", "0.8"),
        ("monthly_usage", "2026-11", "0.9"),
        ("budget", "2026-11", "0.5"),
        ("budget", "2026-11", "0.8"),
    }
    snapshot = json.loads(json.dumps(state.to_dict()))
    restored = AccountLiveState.from_dict(snapshot)
    assert restored.to_dict() == state.to_dict()
    assert restored.fired_keys() == state.fired_keys()
    # the same crossings again (tiny event, still 999.00 CNY) re-fire nothing after a restore
    assert restored.apply([ev("2026-11-28T10:00:01+08:00", 1)], acc, BOOK, NOW) == []
    # 2.5M tokens, L = 15: overage 500,000, W = 460,000, usage 2.76 → 1001.76: only 1.0 is new
    (last,) = restored.apply([ev("2026-11-28T10:00:02+08:00", 599_999)], acc, BOOK, NOW)
    assert (last.type, last.level, last.value) == ("budget", Decimal("1"), Decimal("1001.76"))


def test_mark_fired_from_the_alerts_topic() -> None:
    acc = account("standard")
    batch = [ev("2026-11-28T10:00:00+08:00", 1_900_000)]
    published = AccountLiveState(ACC).apply(batch, acc, BOOK, NOW)
    state = AccountLiveState(ACC)
    state.mark_fired(published[:1])
    state.mark_fired([(published[1].account_id, published[1].type, published[1].period, "0.90")])
    state.mark_fired([("someone-else", "daily_usage", "2026-11-29", "0.8")])
    assert state.apply(batch, acc, BOOK, NOW) == []
    assert state.has_fired("monthly_usage", "2026-11", Decimal("0.9"))
    assert not state.has_fired("daily_usage", "2026-11-29", "0.8")


def test_seed_from_warehouse_totals() -> None:
    acc = account("standard", monthly_budget="2000")
    state = AccountLiveState(ACC)
    state.seed(
        month_tokens={"2026-11": 1_799_999},
        month_list_cost={"2026-11": Decimal("10.799994")},
        day_tokens={"2026-11-28": 53_333},
    )
    assert state.newest_day == "2026-11-28"
    (daily, monthly) = state.apply([ev("2026-11-28T10:00:00+08:00", 1)], acc, BOOK, NOW)
    assert (daily.type, daily.value) == ("daily_usage", 53_334)
    assert (monthly.type, monthly.value) == ("monthly_usage", 1_800_000)


def test_rated_events_and_account_mismatch() -> None:
    event = UsageEvent.model_validate(
        {
            "schema_version": 1,
            "event_id": "e1",
            "account_id": ACC,
            "api_key_id": "k",
            "model": "qwen-max",
            "input_tokens": 2_000_000,
            "output_tokens": 0,
            "ts": "2026-11-28T10:00:00+08:00",
            "latency_ms": 10,
        }
    )
    acc = account("payg", monthly_budget="10")
    rated = rate_event(event, acc, BOOK)
    alerts = AccountLiveState(ACC).apply([rated], acc, BOOK, NOW)
    # L = 12, payg: W(2M) = 100k + 360k + 400k + 700k = 1,560,000 → 12 × 0.78 = 9.36 → 0.5, 0.8
    assert [(a.level, a.value) for a in alerts] == [
        (Decimal("0.5"), Decimal("9.36")),
        (Decimal("0.8"), Decimal("9.36")),
    ]
    with pytest.raises(ValueError, match="applied to"):
        AccountLiveState("other").apply([rated], acc, BOOK, NOW)


# --- order independence -----------------------------------------------------------------

MONTHLY_LEVELS = RuleConfig(
    daily_usage=(),
    concurrency=(),
    budget=(),
    monthly_usage=(Decimal("0.1"), Decimal("0.25"), Decimal("0.5"), Decimal("0.9"), Decimal("1"), Decimal("1.5")),
)


@settings(max_examples=60, deadline=None)
@given(
    items=st.lists(st.tuples(st.integers(0, 29 * 86_400), st.integers(0, 200_000)), min_size=1, max_size=25),
    rnd=st.randoms(use_true_random=False),
    cuts=st.lists(st.integers(0, 25), max_size=4),
)
def test_monthly_fired_keys_are_order_independent(items: list[tuple[int, int]], rnd: object, cuts: list[int]) -> None:
    acc = account("starter")  # 500,000 tokens
    base = datetime(2026, 11, 1, tzinfo=UTC)
    events = [ev((base + timedelta(seconds=s)).isoformat(), n, tz="UTC") for s, n in items]
    reference = AccountLiveState(ACC, keep_days=40).apply(events, acc, BOOK, NOW, MONTHLY_LEVELS)

    shuffled = list(events)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    bounds = sorted({0, len(shuffled), *(min(c, len(shuffled)) for c in cuts)})
    state = AccountLiveState(ACC, keep_days=40)
    got: list[Alert] = []
    for lo, hi in itertools.pairwise(bounds):
        got += state.apply(shuffled[lo:hi], acc, BOOK, NOW, MONTHLY_LEVELS)

    total = sum(n for _, n in items)
    expected = {
        ("monthly_usage", "2026-11", level_str(lv)) for lv in MONTHLY_LEVELS.monthly_usage if total >= lv * 500_000
    }
    assert keys(got) == keys(reference) == expected
    assert len(got) == len(expected)


ACCOUNTS = st.sampled_from(
    [
        None,
        account("payg"),
        account("payg", prepaid=True, educational=True),
        account("starter", contract_months=12),
        account("standard", prepaid=True, contract_months=12, educational=True),
        account("professional", extra_tokens=1_234_567, extra_concurrent=3, educational=True),
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    acc=ACCOUNTS,
    tokens=st.integers(0, 60_000_000),
    per_k=st.decimals(min_value=0, max_value=Decimal("0.02"), places=7),
)
def test_budget_prefilter_is_within_rounding_of_the_exact_total(
    acc: Account | None, tokens: int, per_k: Decimal
) -> None:
    estimator = BudgetEstimator(BOOK, acc)
    cost = tokens * per_k / 1000
    exact = estimator(tokens, cost)
    approx = estimator.approx(tokens, cost)
    assert abs(exact - approx) <= Decimal("0.025")
    assert estimator.may_reach(tokens, cost, exact)
    assert not estimator.may_reach(tokens, cost, exact + Decimal("0.06"))


# --- shortcuts of the hot path --------------------------------------------------------------


class EveryMonthChecked(AccountLiveState):
    """The state without the budget cost floor: every event of a month with a level pending is
    estimated."""

    def _budget_floor(self, run: Any, month: str, estimator: BudgetEstimator) -> Decimal:
        return Decimal("Infinity") if run.lowest_pending("budget", month) is None else Decimal("-Infinity")


@settings(max_examples=150, deadline=None)
@given(
    acc=ACCOUNTS,
    budget=st.sampled_from(["1", "25", "300", "999.5", "1000.14", "5000"]),
    items=st.lists(
        st.tuples(st.integers(0, 29 * 86_400), st.integers(0, 3_000_000), st.decimals(0, Decimal("0.02"), places=7)),
        min_size=1,
        max_size=20,
    ),
    cuts=st.lists(st.integers(0, 20), max_size=3),
)
def test_budget_skip_never_hides_an_alert(
    acc: Account | None, budget: str, items: list[tuple[int, int, Decimal]], cuts: list[int]
) -> None:
    acc = (acc or account("payg")).model_copy(update={"monthly_budget": Decimal(budget)})
    base = datetime(2026, 11, 1, tzinfo=UTC)
    events = [ev((base + timedelta(seconds=s)).isoformat(), n, cost=n * k / 1000, tz="UTC") for s, n, k in items]
    bounds = sorted({0, len(events), *(min(c, len(events)) for c in cuts)})
    fast, slow = AccountLiveState(ACC, keep_days=40), EveryMonthChecked(ACC, keep_days=40)
    got, want = [], []
    for lo, hi in itertools.pairwise(bounds):
        got += fast.apply(events[lo:hi], acc, BOOK, NOW)
        want += slow.apply(events[lo:hi], acc, BOOK, NOW)
    assert got == want


@settings(max_examples=200, deadline=None)
@given(acc=ACCOUNTS, tokens=st.integers(0, 60_000_000), per_k=st.decimals(0, Decimal("0.02"), places=7))
def test_budget_upper_bound_covers_every_token_count(acc: Account | None, tokens: int, per_k: Decimal) -> None:
    estimator = BudgetEstimator(BOOK, acc)
    cost = tokens * per_k / 1000
    bound = estimator.upper_bound(cost)
    for t in (tokens, max(tokens, 1) * 3, tokens // 7 + 1, 10**9):
        assert estimator.approx(t, cost) + Decimal("0.03") <= bound


@settings(max_examples=300, deadline=None)
@given(
    acc=ACCOUNTS,
    threshold=st.fractions(min_value=0, max_value=10**6, max_denominator=10**4),
    under=st.decimals(0, 1, places=12),
)
def test_budget_cost_floor_is_safe_and_tight(acc: Account | None, threshold: Fraction, under: Decimal) -> None:
    """Below the floor the upper bound stays under the threshold; just above it, it does not."""
    estimator = BudgetEstimator(BOOK, acc)
    floor = estimator.cost_floor(threshold)
    if floor == Decimal("-Infinity"):
        assert estimator.upper_bound(Decimal(0)) >= threshold
    elif floor == Decimal("Infinity"):
        assert estimator.upper_bound(Decimal(10**12)) < threshold
    else:
        below = max(floor * (1 - under) - Decimal("1e-12"), Decimal(0))
        assert estimator.upper_bound(below) < threshold
        assert estimator.upper_bound(floor + Decimal("2e-12")) >= threshold
    assert estimator.cost_floor(threshold) is floor  # kept per threshold


def test_threshold_floor_shortcut_keeps_fractional_thresholds_exact() -> None:
    # starter + 1 extra token: 500,001 a month, 0.9 × that = 450,000.9: 450,000 must not fire
    acc = account("starter", extra_tokens=1)
    cfg = RuleConfig(daily_usage=(), concurrency=(), budget=())
    state = AccountLiveState(ACC)
    assert state.apply([ev("2026-11-10T10:00:00+08:00", 450_000)], acc, BOOK, NOW, cfg) == []
    (alert,) = state.apply([ev("2026-11-10T11:00:00+08:00", 1)], acc, BOOK, NOW, cfg)
    assert (alert.type, alert.value) == ("monthly_usage", Decimal("450001"))


def test_naive_times_and_negative_latencies_are_refused() -> None:
    naive = ev("2026-11-10T10:00:00", 10)
    with pytest.raises(ValueError, match="timezone-aware"):
        AccountLiveState(ACC).apply([naive], account(), BOOK, NOW)
    with pytest.raises(ValueError, match="before its start"):
        AccountLiveState(ACC).apply([ev("2026-11-10T10:00:00+08:00", 10, latency_ms=-5)], account(), BOOK, NOW)
