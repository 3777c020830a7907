"""The sink's "already stored?" check with ids that need escaping, against a real warehouse."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TypeVar

import pytest

from usageflow.errors import WarehouseError
from usageflow.pricing.price_book import PriceBook
from usageflow.pricing.rating import RatedEvent, rate_event
from usageflow.schemas import UsageEvent
from usageflow.streams.sink import WarehouseSink
from usageflow.warehouse import Warehouse

T = TypeVar("T")

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
    sink.insert(stored)
    assert len(sink.stored_ids(stored)) == len(HOSTILE_IDS)
    again = [*stored, rated("new'one"), rated("plain", account_id="other")]
    assert sink.fresh(again) == [len(stored), len(stored) + 1]
    assert sink.stored_ids(again) == {("acct-1", i) for i in HOSTILE_IDS}


def no_retry(_what: str, work: Callable[[], T]) -> T:
    return work()


def test_rows_the_warehouse_refuses_are_found_and_the_rest_stored(warehouse: Warehouse) -> None:
    """A billing date beyond ClickHouse's Date range (2149-06-06) is refused by the engine as
    data (VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE): splitting the insert finds exactly those rows."""
    sink = WarehouseSink(warehouse)
    rows = [rated(f"ok-{i}") for i in range(37)]
    bad_at = {3, 20, 36}
    for i in bad_at:
        rows[i] = rows[i]._replace(billing_date=date(2300, 1, 1))
    refused = sink.insert_finding_refused(rows, list(range(len(rows))), no_retry)
    assert sorted(i for i, _ in refused) == sorted(bad_at)
    assert all("VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE" in why for _, why in refused)
    stored = sink.stored_ids(rows)
    assert stored == {("acct-1", f"ok-{i}") for i in range(37) if i not in bad_at}


def test_warehouse_errors_keep_the_engine_code_and_name(warehouse: Warehouse) -> None:
    with pytest.raises(WarehouseError) as caught:
        warehouse.query("SELECT * FROM no_such_table")
    assert caught.value.code == 60 and caught.value.name == "UNKNOWN_TABLE"
    assert caught.value.kind == "fatal" and not caught.value.healable
    assert "\n" not in str(caught.value) and str(caught.value).startswith("Code: 60")
