"""The engine's batched alert path (usageflow.alerting.quiet) against the event-by-event walk.

`LiveEngine.process` adds a run that cannot fire at once and walks the others; the reference
below walks every account's events with `AccountLiveState.apply`. Both must fire the same
alerts, in the same order, and leave the same state."""

from __future__ import annotations

import itertools
from bisect import bisect_left
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usageflow.alerting.engine import LiveEngine
from usageflow.alerting.state import AccountLiveState
from usageflow.pricing.credits import Grant, GrantBalance
from usageflow.pricing.price_book import PriceBook
from usageflow.pricing.rating import RatedEvent, rate_event
from usageflow.schemas import Account, Alert, UsageEvent

pytestmark = pytest.mark.unit

BOOK = PriceBook()
NOW = datetime(2026, 12, 1, tzinfo=UTC)
BASE = datetime(2026, 11, 29, 12, tzinfo=UTC)  # day and month ends in every zone below
ACCOUNTS = {
    "a0": Account(account_id="a0", plan="starter"),
    "a1": Account(account_id="a1", plan="standard", timezone="America/Los_Angeles", monthly_budget=Decimal("60")),
    "a2": Account(account_id="a2", plan="payg", timezone="Asia/Shanghai", monthly_budget=Decimal("5")),
    "a3": Account(account_id="a3", plan="starter", timezone="Europe/Berlin", prepaid=True),
}
CREDITS = {
    "a2": [GrantBalance(Grant("g2", "a2", Decimal("8"), None, 0, BASE - timedelta(days=60)))],
    "a3": [GrantBalance(Grant("g3", "a3", Decimal("400"), None, 0, BASE - timedelta(days=60)))],
}


def rated(serial: int, account_id: str, seconds: int, tokens: int, latency_ms: int) -> RatedEvent:
    event = UsageEvent.model_validate(
        {
            "schema_version": 1,
            "event_id": f"e{serial}",
            "account_id": account_id,
            "api_key_id": "k",
            "model": "qwen-max",
            "input_tokens": tokens,
            "output_tokens": tokens // 3,
            "ts": (BASE + timedelta(seconds=seconds)).isoformat(),
            "latency_ms": latency_ms,
        }
    )
    return rate_event(event, ACCOUNTS[account_id], BOOK)


def state_of(state: AccountLiveState) -> dict[str, Any]:
    """Everything but the requests pruning may drop yet (the walk prunes after each request,
    the batched path once per run)."""
    data = state.to_dict()
    held = data.pop("concurrency")
    newest = held["newest_end_us"]
    cut = 0 if newest is None else bisect_left(held["ends"], newest - held["retention_us"])
    data["requests"] = (held["starts"][cut:], held["ends"][cut:], newest)
    return data


EVENTS = st.lists(
    st.tuples(
        st.sampled_from(sorted(ACCOUNTS)),
        # seconds after BASE: across days and the month end, or bunched (concurrency)
        st.one_of(st.integers(0, 4 * 86_400), st.integers(0, 20)),
        st.sampled_from([0, 1, 500, 3_000, 20_000, 120_000]),
        st.sampled_from([0, 1, 800, 5_000, 60_000]),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(
    items=EVENTS,
    burst=st.lists(st.tuples(st.sampled_from(["a0", "a1"]), st.integers(0, 30)), max_size=12),
    rnd=st.randoms(use_true_random=False),
    cuts=st.lists(st.integers(0, 72), max_size=5),
    lateness_h=st.sampled_from([1, 48]),
)
def test_batched_alerts_and_state_equal_the_walk(
    items: list[tuple[str, int, int, int]],
    burst: list[tuple[str, int]],
    rnd: Any,
    cuts: list[int],
    lateness_h: int,
) -> None:
    # a burst of minute-long requests within half a minute reaches the concurrency levels
    items = items + [(account_id, second, 10, 60_000) for account_id, second in burst]
    rnd.shuffle(items)
    events = [rated(i, *item) for i, item in enumerate(items)]
    bounds = sorted({0, len(events), *(min(c, len(events)) for c in cuts)})
    engine = LiveEngine(BOOK, allowed_lateness=timedelta(hours=lateness_h))
    engine.set_credits(CREDITS)
    walked: dict[str, AccountLiveState] = {}
    walk_engine = LiveEngine(BOOK, allowed_lateness=timedelta(hours=lateness_h))  # its lateness only
    for lo, hi in itertools.pairwise(bounds):
        batch = [(0, e) for e in events[lo:hi]]
        got = engine.process(batch, ACCOUNTS.get, NOW)
        expected: list[Alert] = []
        per_account: dict[str, list[RatedEvent]] = {}
        late = 0
        for _, e in batch:  # the lateness rule, as the engine applies it
            newest = walk_engine.newest_by_partition.get(0)
            if newest is not None and newest - e.event.ts > walk_engine.allowed_lateness:
                late += 1
                continue
            if newest is None or e.event.ts > newest:
                walk_engine.newest_by_partition[0] = e.event.ts
            per_account.setdefault(e.event.account_id, []).append(e)
        for account_id, own in per_account.items():
            state = walked.setdefault(account_id, AccountLiveState(account_id))
            expected += state.apply(own, ACCOUNTS[account_id], BOOK, NOW, credits=CREDITS.get(account_id))
        assert got.late == late
        assert got.alerts == expected
    assert {a: state_of(s) for a, s in engine.states.items()} == {a: state_of(s) for a, s in walked.items()}


def test_a_quiet_run_is_added_at_once_and_a_crossing_one_is_walked() -> None:
    engine = LiveEngine(BOOK)
    quiet = engine.process([(0, rated(1, "a0", 0, 1_000, 10))], ACCOUNTS.get, NOW)
    held = engine.states["a0"]
    assert quiet.alerts == [] and held.day_tokens == {"2026-11-29": 1_333}
    assert len(held.concurrency) == 1
    # starter: 500,000 tokens a month (a day: 1/30 of it); 460,000 more cross the 90 % level
    crossing = engine.process([(0, rated(2, "a0", 5, 345_000, 10))], ACCOUNTS.get, NOW)
    crossed = {(a.type, a.period) for a in crossing.alerts}
    assert crossed == {("daily_usage", "2026-11-29"), ("monthly_usage", "2026-11")}
    assert held.day_tokens == {"2026-11-29": 461_333}
