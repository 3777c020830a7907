"""The sink's "already stored?" check with ids that need escaping, against a real warehouse."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from usageflow.schemas import UsageEvent
from usageflow.streams.sink import WarehouseSink

from usageflow.pricing.price_book import PriceBook
from usageflow.pricing.rating import RatedEvent, rate_event
from usageflow.warehouse import Warehouse

pytestmark = pytest.mark.integration

HOSTILE_IDS = [
    "plain",
    "it's",
    "back\\slash",
    "tick`",
    "brace{ids:String}",
    "percent%s",
    'quote"d',
    "tab\tnew\nline",
    "汉字",
]


def rated(event_id: str, account_id: str = "acct-1") -> RatedEvent:
    event = UsageEvent(
        schema_version=1,
        event_id=event_id,
        account_id=account_id,
        api_key_id="k",
        model="qwen-max",
        input_tokens=10,
        output_tokens=5,
        ts=datetime(2026, 11, 3, 8, 0, tzinfo=UTC),
        latency_ms=10,
    )
    return rate_event(event, None, PriceBook())


def test_stored_ids_survive_quotes_and_backslashes(warehouse: Warehouse) -> None:
    sink = WarehouseSink(warehouse)
    stored = [rated(i) for i in HOSTILE_IDS]
    assert sink.write(stored).inserted == len(HOSTILE_IDS)
    again = [*stored, rated("new'one"), rated("plain", account_id="other")]
    assert sink.fresh(again) == [len(stored), len(stored) + 1]
    assert sink.stored_ids(again) == {("acct-1", i) for i in HOSTILE_IDS}
