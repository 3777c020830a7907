"""Token-type prices and price versions in rating (docs/pricing.md §10, §11), against the
rating oracle: every event at the version in force at its event time, every month's terms at
the version in force at its first instant, across month boundaries and DST."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fixtures.price_versions import MONTHS, ZONES, token_events, versioned_books
from tests.oracle import rating as oracle
from usageflow.errors import PriceBookError
from usageflow.pricing.month_starts import first_month_billed
from usageflow.pricing.price_book import PriceBook, load_price_book, price_book_from_data
from usageflow.pricing.rating import rate_event
from usageflow.schemas import Account, UsageEvent

pytestmark = pytest.mark.unit

ACCOUNTS = ["a-shanghai", "a-newyork", "a-auckland"]
ZONE_OF = {"a-shanghai": None, "a-newyork": "America/New_York", "a-auckland": "Pacific/Auckland"}


def account(account_id: str) -> Account:
    return Account(account_id=account_id, plan="standard", timezone=ZONE_OF[account_id])


@settings(max_examples=300, deadline=None)
@given(book=versioned_books(), event=token_events(ACCOUNTS))
def test_rating_matches_the_oracle(book: PriceBook, event: UsageEvent) -> None:
    acct = account(event.account_id)
    rated = rate_event(event, acct, book)
    assert Fraction(rated.list_cost) == oracle.list_cost(event, book, acct)
    assert rated.price_version == oracle.in_force(book, event.ts).version_label


@settings(max_examples=300, deadline=None)
@given(book=versioned_books(), month=st.sampled_from(MONTHS), zone=st.sampled_from(ZONES))
def test_month_terms_come_from_the_version_at_its_first_instant(book: PriceBook, month: str, zone: str) -> None:
    assert book.for_month(month, zone) is oracle.month_version(book, month, zone)


@settings(max_examples=300, deadline=None)
@given(book=versioned_books(), zone=st.sampled_from(ZONES), month=st.sampled_from(MONTHS))
def test_first_month_billed_agrees_with_month_versions(book: PriceBook, zone: str, month: str) -> None:
    """The loader's per-zone table (first month each version bills) picks the same version."""
    firsts = [("0000-00", book)] + [
        (first_month_billed(v.effective_from, zone), v) for v in book.later_versions if v.effective_from
    ]
    chosen = [v for first, v in firsts if first <= month][-1]
    assert chosen is oracle.month_version(book, month, zone)


def test_events_without_token_types_bill_as_before() -> None:
    book = PriceBook()
    event = UsageEvent(
        schema_version=1,
        event_id="e",
        account_id="a",
        api_key_id="k",
        model="qwen-plus",
        region="eu-central",
        input_tokens=1234,
        output_tokens=567,
        ts=datetime(2026, 11, 10, 4, tzinfo=UTC),
        latency_ms=1,
    )
    # (1234 + 567) / 1000 × 0.006 × 0.8 × 0.9, peak hour: the formula of §2
    assert rate_event(event, None, book).list_cost == Decimal("0.0077803200")
    assert rate_event(event, None, book).price_version == "initial"


def test_cached_tokens_are_part_of_input_not_extra() -> None:
    book = price_book_from_data(
        {
            "models": {
                "m": {
                    "input_per_1k": "1",
                    "cached_input_per_1k": "0.1",
                    "output_per_1k": "4",
                    "reasoning_per_1k": "8",
                    "cache_write_per_1k": "1.25",
                }
            }
        }
    )
    event = UsageEvent(
        schema_version=1,
        event_id="e",
        account_id="a",
        api_key_id="k",
        model="m",
        input_tokens=1000,
        cached_input_tokens=600,
        cache_write_tokens=100,
        output_tokens=500,
        reasoning_tokens=200,
        ts=datetime(2026, 11, 10, 4, tzinfo=UTC),
        latency_ms=1,
    )
    # (300 × 1 + 600 × 0.1 + 100 × 1.25 + 300 × 4 + 200 × 8) / 1000 = 3.285
    assert rate_event(event, None, book).list_cost == Decimal("3.285")


def test_shipped_example_has_two_versions() -> None:
    path = Path(__file__).resolve().parents[2] / "demo" / "price-book-versions.yaml"
    book = load_price_book(path)
    first, second = book.versions
    assert first.token_prices("qwen-plus").input == PriceBook().token_prices("qwen-plus").input
    assert first.token_prices("qwen-max").reasoning == Decimal("0.006")  # at the output price
    assert second.effective_from == datetime(2026, 11, 14, 16, tzinfo=UTC)
    assert second.token_prices("qwen-max").reasoning == Decimal("0.010")
    assert second.models["qwen-plus"] == first.models["qwen-plus"]  # not named: unchanged
    assert second.plans["standard"].monthly_tokens == 2_500_000
    assert book.for_month("2026-11", "Asia/Shanghai") is first  # the 15th is inside November
    assert book.for_month("2026-12", "Asia/Shanghai") is second


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"versions": []}, "versions: must be a non-empty list"),
        ({"versions": [{"models": {}}]}, "versions[0]: each version needs an effective_from"),
        (
            {"versions": [{"effective_from": "2026-02-01T00:00:00Z"}, {"effective_from": "2026-01-01T00:00:00Z"}]},
            "strictly increasing effective_from",
        ),
        ({"versions": [{"effective_from": "2026-02-01T00:00:00"}]}, "must carry a UTC offset"),
        (
            {
                "versions": [
                    {"effective_from": "2026-02-01T00:00:00Z"},
                    {"effective_from": "2026-03-01T00:00:00Z", "billing_timezone": "UTC"},
                ]
            },
            "the same in every price version",
        ),
        ({"later_versions": []}, "not a setting"),
        ({"models": {"m": {"cached_input_per_1k": "-0.1"}}}, "a price must be a finite number >= 0"),
    ],
)
def test_bad_version_files_are_one_clear_line(data: dict[str, object], message: str) -> None:
    with pytest.raises(PriceBookError) as info:
        price_book_from_data(data)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
