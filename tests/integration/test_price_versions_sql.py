"""Invoices under a versioned price book with token-typed events, SQL against the oracles, to
the fen: each event at the version in force at its event time (the stream's rating, checked
against the rating oracle in tests/unit/test_price_versions.py), each month's plan fee, quota,
tiers and discounts at the version in force at the month's first instant in the account's
billing time zone — versions starting mid-month, exactly at a month boundary in one zone (and a
millisecond either side), across DST."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.price_versions import MONTHS, token_events, versioned_books
from tests.oracle import billing as ref
from tests.oracle import rating as oracle
from usageflow.billing import queries
from usageflow.billing.tables import load_price_book, upsert_accounts
from usageflow.pricing.price_book import PriceBook
from usageflow.pricing.price_book import load_price_book as load_book
from usageflow.pricing.rating import RatedEvent, rate_event
from usageflow.schemas import Account, UsageEvent
from usageflow.streams.rated_rows import rated_events_table
from usageflow.warehouse import Warehouse

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

ACCOUNTS = {
    "edu-sh": Account(account_id="edu-sh", plan="standard", educational=True, contract_months=12),
    "edu-ny": Account(account_id="edu-ny", plan="starter", timezone="America/New_York", prepaid=True),
    "edu-ki": Account(account_id="edu-ki", plan="standard", timezone="Pacific/Kiritimati"),
}
IDS = [*ACCOUNTS, "stranger"]  # the last one is unknown: payg in the book's zone


def expected_invoices(book: PriceBook, rated: list[RatedEvent], month: str) -> list[object]:
    billed = sorted({r.event.account_id for r in rated if r.billing_month == month} | set(ACCOUNTS))
    out = []
    for account_id in billed:
        account = ACCOUNTS.get(account_id)
        rows = [ref.usage_row(r) for r in rated if r.event.account_id == account_id and r.billing_month == month]
        version = oracle.month_version(book, month, oracle.billing_zone(book, account))
        out.append(ref.invoice(version, account_id, month, account, rows))
    return out


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(book=versioned_books(), events=st.lists(token_events(IDS), min_size=0, max_size=14))
def test_invoices_under_price_versions_match_the_oracle(
    warehouse: Warehouse, book: PriceBook, events: list[UsageEvent]
) -> None:
    load_price_book(warehouse, book)
    warehouse.command("TRUNCATE TABLE rated_events")
    upsert_accounts(warehouse, list(ACCOUNTS.values()))
    rated = [rate_event(e, ACCOUNTS.get(e.account_id), book) for e in events]
    if rated:
        warehouse.insert_arrow("rated_events", rated_events_table(rated))
    for month in MONTHS:
        assert queries.invoices(warehouse, month) == expected_invoices(book, rated, month)


def test_stored_rows_keep_token_types_and_price_version(warehouse: Warehouse) -> None:
    book = load_book(ROOT / "demo" / "price-book-versions.yaml")
    load_price_book(warehouse, book)
    event = UsageEvent(
        schema_version=1,
        event_id="e-1",
        account_id="edu-sh",
        api_key_id="k1",
        model="qwen-max",
        input_tokens=10_000,
        cached_input_tokens=6_000,
        cache_write_tokens=1_000,
        output_tokens=2_000,
        reasoning_tokens=1_500,
        provider_cost="0.051",
        ts=datetime(2026, 11, 20, 4, tzinfo=UTC),  # after the 15 November version, peak hour
        latency_ms=10,
    )
    rated = rate_event(event, ACCOUNTS["edu-sh"], book)
    warehouse.insert_arrow("rated_events", rated_events_table([rated]))
    (row,) = warehouse.query(
        "SELECT cached_input_tokens, cache_write_tokens, reasoning_tokens, provider_cost, "
        "cached_input_per_1k, cache_write_per_1k, reasoning_per_1k, price_version, list_cost FROM rated_events"
    )
    assert (row["cached_input_tokens"], row["cache_write_tokens"], row["reasoning_tokens"]) == (6_000, 1_000, 1_500)
    assert row["provider_cost"] == Decimal("0.051")
    assert (row["cached_input_per_1k"], row["cache_write_per_1k"], row["reasoning_per_1k"]) == (
        Decimal("0.0024"),
        Decimal("0.0075"),
        Decimal("0.010"),
    )
    assert row["price_version"] == "2026-11-14T16:00:00.000Z"
    # (3,000 × 0.006 + 6,000 × 0.0024 + 1,000 × 0.0075 + 500 × 0.008 + 1,500 × 0.010) / 1000
    assert row["list_cost"] == Decimal("0.0589")
    versions = warehouse.query("SELECT price_version FROM price_book ORDER BY version")
    assert [v["price_version"] for v in versions] == ["2025-12-31T16:00:00.000Z", "2026-11-14T16:00:00.000Z"]


def test_drafts_of_idle_accounts_use_the_months_version(warehouse: Warehouse) -> None:
    """An account with a plan and no usage is billed its plan fee under the version that bills
    the month: one draft, never one per version."""
    from usageflow.billing import ledger

    book = load_book(ROOT / "demo" / "price-book-versions.yaml")
    load_price_book(warehouse, book)
    upsert_accounts(warehouse, [ACCOUNTS["edu-sh"]])
    for month in ("2026-11", "2026-12"):
        got = [i for i in ledger.month_invoices(warehouse, month) if i.account_id == "edu-sh"]
        want = ref.invoice(oracle.month_version(book, month, "Asia/Shanghai"), "edu-sh", month, ACCOUNTS["edu-sh"], [])
        assert len(got) == 1
        assert (got[0].total, got[0].lines) == (want.total, want.lines)
