"""The credits_low alert rule: remaining prepaid credits after the month's cost estimate, against
the cycle oracle (tests/oracle/cycle.py), fired once per (account, month, level)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.oracle import billing as ref
from tests.oracle import cycle as oracle
from usageflow.alerting.engine import AccountSeed, LiveEngine
from usageflow.alerting.events import LiveEvent
from usageflow.alerting.rules import RuleConfig
from usageflow.alerting.state import AccountLiveState
from usageflow.pricing.credits import Grant, GrantBalance
from usageflow.pricing.price_book import PriceBook
from usageflow.schemas import Account, Alert

pytestmark = pytest.mark.unit

BOOK = PriceBook()
NOW = datetime(2026, 12, 1, tzinfo=UTC)
D = Decimal
PER_TOKEN = D("0.000006")  # flagship, peak, us-west
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ev(day: int, tokens: int, acc: str = "c", hour: int = 4) -> LiveEvent:
    return LiveEvent(
        account_id=acc,
        api_key_id="k1",
        model="qwen-max",
        ts=datetime(2026, 11, day, hour, tzinfo=UTC),
        input_tokens=tokens,
        output_tokens=0,
        list_cost=tokens * PER_TOKEN,
        tz="Asia/Shanghai",
    )


def grant(gid: str, amount: str, expires: date | None = None, drawn: dict[str, str] | None = None) -> GrantBalance:
    g = Grant(gid, "c", D(amount), expires, 0, T0)
    return GrantBalance(g, {m: D(a) for m, a in (drawn or {}).items()})


def credit_alerts(alerts: list[Alert]) -> list[tuple[str, str, str, str]]:
    return [(a.period, str(a.level), str(a.value), str(a.limit)) for a in alerts if a.type == "credits_low"]


def test_fires_at_a_fifth_left_and_when_used_up_once_each() -> None:
    state = AccountLiveState("c")
    grants = [grant("g", "10")]
    # payg: 1,000,000 tokens at peak cost 6.00 list × tier factor 0.86 = 5.16 (4.84 left, above 2.00)
    assert credit_alerts(state.apply([ev(1, 1_000_000)], None, BOOK, NOW, credits=grants)) == []
    # 2,000,000: 12.00 × 0.78 = 9.36 → 0.64 left: at most 0.2 × 10
    got = state.apply([ev(2, 1_000_000)], None, BOOK, NOW, credits=grants)
    assert credit_alerts(got) == [("2026-11", "0.2", "0.64", "10")]
    assert got[0].percentage == D("6.40") and got[0].plan == "payg"
    got = state.apply([ev(3, 200_000)], None, BOOK, NOW, credits=grants)  # 10.85: used up
    assert credit_alerts(got) == [("2026-11", "0", "0.00", "10")]
    assert credit_alerts(state.apply([ev(4, 1_000_000)], None, BOOK, NOW, credits=grants)) == []  # once


def test_one_event_can_cross_both_levels_and_the_plan_fee_counts() -> None:
    state = AccountLiveState("c")
    got = state.apply([ev(1, 10)], Account(account_id="c", plan="starter"), BOOK, NOW, credits=[grant("g", "200")])
    assert credit_alerts(got) == [("2026-11", "0", "0.00", "200"), ("2026-11", "0.2", "0.00", "200")]  # 299 fee


def test_only_grants_that_pay_the_month_count() -> None:
    state = AccountLiveState("c")
    grants = [grant("old", "1000", expires=date(2026, 11, 29)), grant("g", "5", drawn={"2026-10": "4"})]
    got = state.apply([ev(1, 10_000)], None, BOOK, NOW, credits=grants)  # 0.06 of the 1.00 left
    assert credit_alerts(got) == [("2026-11", "0.2", "0.94", "5")]
    assert credit_alerts(AccountLiveState("c").apply([ev(1, 10_000)], None, BOOK, NOW, credits=[])) == []


def test_an_issued_months_own_draw_is_given_back() -> None:
    """November was closed and drew 6 of 10; a late November event is judged on the 10."""
    state = AccountLiveState("c")
    grants = [grant("g", "10", drawn={"2026-11": "6"})]
    assert credit_alerts(state.apply([ev(1, 1_000_000)], None, BOOK, NOW, credits=grants)) == []


def test_levels_are_configurable_and_zero_is_allowed() -> None:
    config = RuleConfig(credits_low=(D("0.5"),))
    got = AccountLiveState("c").apply([ev(1, 1_000_000)], None, BOOK, NOW, config, credits=[grant("g", "10")])
    assert credit_alerts(got) == [("2026-11", "0.5", "4.84", "10")]
    assert RuleConfig().credits_low == (D("0"), D("0.2"))
    with pytest.raises(ValueError, match=">= 0"):
        RuleConfig(credits_low=(D("-0.1"),))


def test_fired_keys_from_the_topic_are_not_fired_again_after_a_restart() -> None:
    engine = LiveEngine(BOOK)
    engine.set_credits({"c": [grant("g", "10")]})
    engine.restore([AccountSeed("c", month_tokens={"2026-11": 2_000_000}, month_list_cost={"2026-11": D("12")})])
    engine.mark_fired([("c", "credits_low", "2026-11", "0.2")])
    engine.activate(["c"], lambda _: None, NOW)
    out = engine.process([(0, _rated(ev(2, 200_000)))], lambda _: None, NOW)
    assert credit_alerts(out.alerts) == [("2026-11", "0", "0.00", "10")]


def test_catch_up_after_a_seed_fires_what_the_stored_totals_reach() -> None:
    engine = LiveEngine(BOOK)
    engine.set_credits({"c": [grant("g", "10")]})
    seed = AccountSeed(
        "c",
        month_tokens={"2026-11": 2_000_000},
        month_list_cost={"2026-11": D("12")},
        last_event_at={"2026-11": datetime(2026, 11, 2, 4, tzinfo=UTC)},
    )
    assert credit_alerts(engine.seed_account(seed, None, NOW)) == [("2026-11", "0.2", "0.64", "10")]


def _rated(e: LiveEvent):  # type: ignore[no-untyped-def]
    from usageflow.pricing.rating import rate_event
    from usageflow.schemas import UsageEvent

    event = UsageEvent(
        schema_version=1,
        event_id=f"e-{e.ts.isoformat()}-{e.input_tokens}",
        account_id=e.account_id,
        api_key_id=e.api_key_id,
        model=e.model,
        region="us-west",
        input_tokens=e.input_tokens,
        output_tokens=0,
        ts=e.ts,
        latency_ms=0,
    )
    return rate_event(event, None, BOOK)


@settings(max_examples=60, deadline=None)
@given(
    tokens=st.lists(st.one_of(st.integers(0, 3_000_000), st.integers(0, 50_000)), min_size=1, max_size=8),
    plan=st.sampled_from([None, "payg", "starter", "standard"]),
    educational=st.booleans(),
    grants=st.lists(
        st.tuples(
            st.integers(1, 150_000),  # fen
            st.integers(0, 100),  # % drawn by earlier months
            st.sampled_from([None, date(2026, 11, 29), date(2026, 11, 30), date(2027, 3, 31)]),
        ),
        max_size=3,
    ),
    batch=st.integers(1, 8),
)
def test_alerts_match_the_oracle(
    tokens: list[int], plan: str | None, educational: bool, grants: list[tuple[int, int, date | None]], batch: int
) -> None:
    account = None if plan is None else Account(account_id="c", plan=plan, educational=educational)
    balances, oracle_grants = [], []
    for n, (fen, pct, expires) in enumerate(grants):
        amount = D(fen) / 100
        drawn = (amount * pct / 100).quantize(D("0.01"))
        balances.append(GrantBalance(Grant(f"g{n}", "c", amount, expires, 0, T0), {"2026-10": drawn}))
        oracle_grants.append((amount, amount - drawn, expires))
    events = [ev(1 + i // 4, t, hour=i % 4) for i, t in enumerate(tokens)]
    state = AccountLiveState("c")
    got = []
    for start in range(0, len(events), batch):  # batches of any size give the same alerts
        got += state.apply(events[start : start + batch], account, BOOK, NOW, credits=balances)
    rows = [ref.UsageRow(tokens=e.input_tokens, list_cost=e.list_cost) for e in events]
    expected = oracle.credits_low_levels(BOOK, account, "2026-11", rows, oracle_grants, [D("0"), D("0.2")])
    alerts = [a for a in got if a.type == "credits_low"]
    assert [(a.triggered_at, a.level, a.value) for a in alerts] == [
        (events[i].ts, level, remaining) for i, level, remaining in expected
    ]
    assert all(a.period == "2026-11" for a in alerts)


def test_a_late_event_of_another_month_uses_that_months_position() -> None:
    state = AccountLiveState("c")
    grants = [grant("g", "10", expires=date(2026, 11, 30))]
    october = ev(1, 2_000_000)._replace(ts=datetime(2026, 10, 30, 4, tzinfo=UTC))
    got = state.apply([october], None, BOOK, NOW + timedelta(days=1), credits=grants)
    assert credit_alerts(got) == [("2026-10", "0.2", "0.64", "10")]
