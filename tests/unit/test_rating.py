"""Rating one event (docs/pricing.md §2): exact Decimal, region and off-peak multipliers, time zones."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usageflow.errors import ValidationFailure
from usageflow.pricing.price_book import PriceBook
from usageflow.pricing.rating import rate_event
from usageflow.schemas import Account, UsageEvent

pytestmark = pytest.mark.unit
BOOK = PriceBook()


def ev(**over: object) -> UsageEvent:
    data: dict[str, object] = {
        "schema_version": 1,
        "event_id": "e",
        "account_id": "a",
        "api_key_id": "k",
        "model": "qwen-max",
        "region": "us-west",
        "input_tokens": 1000,
        "output_tokens": 0,
        "ts": "2026-11-28T10:00:00+08:00",
        "latency_ms": 1,
    }
    data.update(over)
    return UsageEvent.model_validate(data)


def test_flagship_peak_us_west_is_base_price() -> None:
    assert rate_event(ev(), None, BOOK).list_cost == Decimal("0.006")


@pytest.mark.parametrize(
    ("model", "region", "expected"),
    [
        ("qwen-plus", "us-west", "0.0048"),
        ("qwen-turbo", "eu-central", "0.00324"),
        ("qwen-max", "ap-southeast", "0.0048"),
        ("qwen-max", None, "0.006"),
    ],
)
def test_model_and_region_multipliers(model: str, region: str | None, expected: str) -> None:
    assert rate_event(ev(model=model, region=region), None, BOOK).list_cost == Decimal(expected)


@pytest.mark.parametrize(
    ("ts", "off_peak"),
    [
        ("2026-11-28T00:00:00+08:00", True),
        ("2026-11-28T07:59:59.999+08:00", True),
        ("2026-11-28T08:00:00+08:00", False),
        ("2026-11-27T23:59:59+08:00", False),
        ("2026-11-27T16:30:00Z", True),  # 00:30 in Shanghai
    ],
)
def test_off_peak_window_in_billing_time_zone(ts: str, off_peak: bool) -> None:
    rated = rate_event(ev(ts=ts), None, BOOK)
    assert rated.list_cost == (Decimal("0.0042") if off_peak else Decimal("0.006"))


def test_account_time_zone_decides_off_peak_and_month() -> None:
    account = Account(account_id="a", timezone="America/Los_Angeles")
    # 2026-12-01 03:00 in Shanghai is 2026-11-30 11:00 in Los Angeles: peak, November.
    rated = rate_event(ev(ts="2026-12-01T03:00:00+08:00"), account, BOOK)
    assert rated.off_peak_multiplier == 1
    assert rated.billing_month == "2026-11"
    default = rate_event(ev(ts="2026-12-01T03:00:00+08:00"), None, BOOK)
    assert default.billing_month == "2026-12" and default.off_peak_multiplier == Decimal("0.7")


def test_unknown_model_and_region_are_not_priced_silently() -> None:
    with pytest.raises(ValidationFailure) as info:
        rate_event(ev(model="gpt-x"), None, BOOK)
    assert info.value.reason == "unknown_model"
    with pytest.raises(ValidationFailure) as info:
        rate_event(ev(region="mars-1"), None, BOOK)
    assert info.value.reason == "unknown_region"


@given(st.integers(0, 10_000_000), st.integers(0, 10_000_000))
def test_cost_is_exact_and_linear(inp: int, out: int) -> None:
    rated = rate_event(ev(input_tokens=inp, output_tokens=out, model="qwen-plus", region="eu-central"), None, BOOK)
    per_token = Decimal("0.006") * Decimal("0.8") * Decimal("0.9") / 1000
    assert rated.list_cost == (inp + out) * per_token
    assert rated.list_cost.as_tuple().exponent >= -12  # fits Decimal(38, 12) without rounding
