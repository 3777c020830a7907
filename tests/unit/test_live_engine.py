"""LiveEngine: lateness per partition, seeding after a restart, fired alerts restored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from usageflow.alerting.engine import AccountSeed, LiveEngine
from usageflow.pricing.price_book import PriceBook
from usageflow.pricing.rating import RatedEvent, rate_event
from usageflow.schemas import Account, UsageEvent

pytestmark = pytest.mark.unit
BOOK = PriceBook()
STARTER = Account(account_id="a", plan="starter")  # daily limit 16,666.67; level 0.8 = 13,333.33
NOW = datetime(2026, 11, 28, tzinfo=UTC)


def rated(event_id: str, ts: datetime, tokens: int, account: str = "a") -> RatedEvent:
    event = UsageEvent.model_validate(
        {
            "schema_version": 1,
            "event_id": event_id,
            "account_id": account,
            "api_key_id": "k",
            "model": "qwen-max",
            "input_tokens": tokens,
            "output_tokens": 0,
            "ts": ts.isoformat(),
            "latency_ms": 10,
        }
    )
    return rate_event(event, STARTER, BOOK)


def lookup(_account_id: str) -> Account:
    return STARTER


def test_crossing_fires_once_and_totals_accumulate() -> None:
    engine = LiveEngine(BOOK)
    t = datetime(2026, 11, 3, 4, tzinfo=UTC)
    out = engine.process([(0, rated("1", t, 13_000)), (0, rated("2", t + timedelta(minutes=1), 400))], lookup, NOW)
    assert [(a.type, a.period) for a in out.alerts] == [("daily_usage", "2026-11-03")]
    again = engine.process([(0, rated("3", t + timedelta(minutes=2), 5_000))], lookup, NOW)
    assert again.alerts == []
    totals = engine.totals("a")
    assert totals is not None and totals["day_tokens"] == {"2026-11-03": 18_400}


def test_events_beyond_the_lateness_skip_the_live_side() -> None:
    engine = LiveEngine(BOOK, allowed_lateness=timedelta(hours=48))
    t = datetime(2026, 11, 10, tzinfo=UTC)
    engine.process([(0, rated("new", t, 10))], lookup, NOW)
    out = engine.process([(0, rated("old", t - timedelta(hours=49), 20_000))], lookup, NOW)
    assert out.late == 1 and out.alerts == []
    # Lateness is per partition: the same event time on another partition is on time.
    out = engine.process([(1, rated("other", t - timedelta(hours=49), 20_000))], lookup, NOW)
    assert out.late == 0 and [a.type for a in out.alerts] == ["daily_usage"]


def test_seeded_totals_count_and_fired_alerts_do_not_repeat() -> None:
    engine = LiveEngine(BOOK)
    engine.mark_fired([("a", "daily_usage", "2026-11-03", "0.8")])  # read from the alerts topic
    engine.seed_account(
        AccountSeed(account_id="a", day_tokens={"2026-11-03": 14_000}, month_tokens={"2026-11": 14_000})
    )
    t = datetime(2026, 11, 3, 5, tzinfo=UTC)
    assert engine.process([(0, rated("x", t, 100))], lookup, NOW).alerts == []
    # A seeded total below the level still counts toward the next crossing.
    engine = LiveEngine(BOOK)
    engine.seed_account(
        AccountSeed(account_id="a", day_tokens={"2026-11-03": 13_000}, month_tokens={"2026-11": 13_000})
    )
    out = engine.process([(0, rated("y", t, 400))], lookup, NOW)
    assert [(a.type, a.value) for a in out.alerts] == [("daily_usage", 13_400)]


def test_restore_seeds_each_account_when_it_first_shows_up_and_reset_keeps_published_alerts() -> None:
    day = {"2026-11-03": 13_000}
    t = datetime(2026, 11, 3, 5, tzinfo=UTC)
    engine = LiveEngine(BOOK)
    engine.mark_fired([("a", "daily_usage", "2026-11-03", "0.8")])  # read from the alerts topic
    engine.restore([AccountSeed(account_id=a, day_tokens=dict(day), month_tokens={"2026-11": 13_000}) for a in "ab"])
    assert engine.restored and engine.activate({"b"}, lookup, NOW) == []
    assert set(engine.states) == {"b"} and set(engine.pending) == {"a"}
    engine.activate({"a"}, lookup, NOW)
    out = engine.process([(0, rated("x", t, 400)), (0, rated("y", t, 400, account="b"))], lookup, NOW)
    # a's crossing was published before the restart; b's counts from its seeded 13,000.
    assert [(a.account_id, a.type, a.value) for a in out.alerts] == [("b", "daily_usage", 13_400)]
    engine.reset()
    assert not engine.restored and not engine.states and not engine.pending
    engine.restore([])  # nothing stored: accounts start from zero, published alerts still count
    out = engine.process([(0, rated("z", t, 14_000)), (0, rated("w", t, 14_000, account="c"))], lookup, NOW)
    assert [(a.account_id, a.value) for a in out.alerts] == [("c", 14_000)]
