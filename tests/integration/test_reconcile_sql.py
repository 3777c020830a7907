"""The reconciliation views (sql/views/reconcile_*_for.sql) against the oracle, to the fen.

Events are rated as the stream rates them and stored with the stream's own Arrow builder (so
token types and provider costs reach their columns); the usage lines the oracle splits come
from the billing oracle's invoices, not from the warehouse.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.oracle import billing as ref
from tests.oracle import reconcile as oracle
from usageflow.billing import queries, snapshots
from usageflow.billing.reconcile import reconcile
from usageflow.billing.tables import load_price_book, upsert_accounts
from usageflow.errors import UsageflowError
from usageflow.pricing.price_book import PriceBook
from usageflow.pricing.rating import RatedEvent, rate_event
from usageflow.schemas import Account, UsageEvent
from usageflow.streams.rated_rows import rated_events_table
from usageflow.warehouse import Warehouse

pytestmark = pytest.mark.integration

BOOK = PriceBook()
MONTH = "2026-11"

# docs/pricing.md §14, the worked example: payg, 400,000 qwen-max tokens (provider cost on every
# event, 1.60 in all) and 200,000 qwen-plus tokens (0.30 on one of its two events), peak, us-west.
# List cost 2.40 + 0.96 = 3.36; M(600,000) = 0.9, usage line 3.024 -> 3.02 = 302 fen, split
# 215.71… / 86.29… -> 215 + 86 and the fen left to qwen-max (the larger remainder): 2.16 / 0.86.
# qwen-plus's share on its event with a provider cost: 86 × 0.48 / 0.96 = 43 fen.
PRICING_MD_EXAMPLE: list[dict[str, Any]] = [
    {
        "model": "qwen-max",
        "tokens": 400000,
        "list_cost": "2.40",
        "billed": "2.16",
        "provider_cost": "1.60",
        "margin": "0.56",
        "events_without_provider_cost": 0,
    },
    {
        "model": "qwen-plus",
        "tokens": 200000,
        "list_cost": "0.96",
        "billed": "0.86",
        "provider_cost": "0.30",
        "margin": "0.13",
        "events_without_provider_cost": 1,
    },
]


def usage_event(
    n: int,
    account_id: str,
    model: str,
    tokens: int,
    ts: datetime,
    provider_cost: str | None,
    cached: int = 0,
    written: int = 0,
    reasoning: int = 0,
) -> UsageEvent:
    input_tokens = tokens // 2
    return UsageEvent(
        schema_version=1,
        event_id=f"ev-{n}",
        account_id=account_id,
        api_key_id="k1",
        model=model,
        region="us-west",
        input_tokens=input_tokens,
        output_tokens=tokens - input_tokens,
        cached_input_tokens=min(cached, input_tokens),
        cache_write_tokens=min(written, input_tokens - min(cached, input_tokens)),
        reasoning_tokens=min(reasoning, tokens - input_tokens),
        ts=ts,
        latency_ms=100,
        provider_cost=provider_cost,
    )


def store(warehouse: Warehouse, rated: list[RatedEvent]) -> None:
    if rated:
        warehouse.insert_arrow("rated_events", rated_events_table(rated))


def expected(
    rated: list[RatedEvent], accounts: dict[str, Account], by_account: bool = False, only: str | None = None
) -> list[dict[str, Any]]:
    """The oracle's answer for what was stored (each event id once)."""
    seen: dict[tuple[str, str], RatedEvent] = {}
    for r in rated:
        if r.billing_month == MONTH and (only is None or r.event.account_id == only):
            seen.setdefault((r.event.account_id, r.event.event_id), r)
    by_acct: dict[str, list[RatedEvent]] = {}
    for r in seen.values():
        by_acct.setdefault(r.event.account_id, []).append(r)
    lines = {}
    for account_id, items in by_acct.items():
        inv = ref.invoice(BOOK, account_id, MONTH, accounts.get(account_id), [ref.usage_row(r) for r in items])
        lines[account_id] = next(line.amount for line in inv.lines if line.kind == "usage")
    priced = [
        oracle.Priced(
            r.event.account_id,
            r.event.model,
            r.event.input_tokens + r.event.output_tokens,
            r.list_cost,
            r.event.provider_cost,
        )
        for r in seen.values()
    ]
    return oracle.reconcile(lines, priced, by_account)


def peak(day: int) -> datetime:
    return datetime(2026, 11, day, 4, 0, tzinfo=UTC)  # 12:00 Asia/Shanghai


def test_pricing_md_example(warehouse: Warehouse) -> None:
    load_price_book(warehouse, BOOK)
    events = [usage_event(i, "edu-001", "qwen-max", 100_000, peak(1 + i), "0.40") for i in range(4)]
    events += [
        usage_event(4, "edu-001", "qwen-plus", 100_000, peak(5), "0.30"),
        usage_event(5, "edu-001", "qwen-plus", 100_000, peak(6), None),
    ]
    rated = [rate_event(e, None, BOOK) for e in events]
    store(warehouse, rated)
    store(warehouse, rated[:3])  # a redelivery: FINAL counts each event once
    got = [r.to_json() for r in reconcile(warehouse, MONTH)]
    assert got == PRICING_MD_EXAMPLE
    assert got == expected(rated, {})
    (invoice,) = queries.invoices(warehouse, MONTH)
    assert next(line.amount for line in invoice.lines if line.kind == "usage") == Decimal("3.02")
    by_account = [r.to_json() for r in reconcile(warehouse, MONTH, by_account=True)]
    assert by_account == [{"account_id": "edu-001", **row} for row in PRICING_MD_EXAMPLE]
    assert reconcile(warehouse, "2026-10") == []


def test_a_plan_account_within_its_quota_bills_nothing_per_model(warehouse: Warehouse) -> None:
    """The plan fee is not apportioned: inside the quota the usage line is 0.00, so every
    model's billed share is too and the margin is minus the provider cost."""
    load_price_book(warehouse, BOOK)
    account = Account(account_id="edu-002", plan="starter")
    upsert_accounts(warehouse, [account])
    rated = [rate_event(usage_event(1, "edu-002", "qwen-max", 300_000, peak(3), "1.25"), account, BOOK)]
    store(warehouse, rated)
    (row,) = [r.to_json() for r in reconcile(warehouse, MONTH)]
    assert (row["billed"], row["provider_cost"], row["margin"]) == ("0.00", "1.25", "-1.25")
    assert [row] == expected(rated, {"edu-002": account})


def test_equal_remainders_go_to_the_first_model_name(warehouse: Warehouse) -> None:
    """qwen-max 50,000 and qwen-plus 62,500 tokens cost 0.30 each; the usage line 0.59
    (0.60 × 111,250 / 112,500) is 59 fen: 29.5 each, and the fen goes to qwen-max."""
    load_price_book(warehouse, BOOK)
    rated = [
        rate_event(usage_event(1, "tie", "qwen-plus", 62_500, peak(2), "0.10"), None, BOOK),
        rate_event(usage_event(2, "tie", "qwen-max", 50_000, peak(3), "0.10"), None, BOOK),
    ]
    store(warehouse, rated)
    got = [(r.model, str(r.billed), str(r.margin)) for r in reconcile(warehouse, MONTH)]
    assert got == [("qwen-max", "0.30", "0.20"), ("qwen-plus", "0.29", "0.19")]
    assert [r.to_json() for r in reconcile(warehouse, MONTH)] == expected(rated, {})


def test_a_share_split_at_half_a_fen_goes_to_the_events_with_a_provider_cost(warehouse: Warehouse) -> None:
    """Two qwen-max events of 55,000 tokens, one with a provider cost: the usage line 0.65
    (0.66 × 109,000 / 110,000) is 65 fen, half of it 32.5 -> 33 fen on the priced event."""
    load_price_book(warehouse, BOOK)
    rated = [
        rate_event(usage_event(1, "half", "qwen-max", 55_000, peak(2), "0.20"), None, BOOK),
        rate_event(usage_event(2, "half", "qwen-max", 55_000, peak(3), None), None, BOOK),
    ]
    store(warehouse, rated)
    (row,) = reconcile(warehouse, MONTH)
    assert (str(row.billed), str(row.billed_with_provider_cost), str(row.margin)) == ("0.65", "0.33", "0.13")
    assert row.events_without_provider_cost == 1 and row.events == 2
    assert [row.to_json()] == expected(rated, {})


def test_month_is_checked(warehouse: Warehouse) -> None:
    with pytest.raises(UsageflowError, match="YYYY-MM"):
        reconcile(warehouse, "2026-13")


# --- the property: SQL == oracle, to the fen -------------------------------------------------

cost_st = st.one_of(
    st.none(),
    st.integers(min_value=0, max_value=5 * 10**12).map(lambda n: f"{Decimal(n).scaleb(-12):f}"),
    st.sampled_from(["0", "0.005", "0.015", "1.125"]),  # exact half fen, to round
)
event_st = st.tuples(
    st.integers(0, 2),  # account
    st.sampled_from(["qwen-max", "qwen-plus", "qwen-turbo"]),
    st.integers(1, 400_000),  # tokens
    st.integers(0, 47),  # hours after 2026-10-31 12:00 UTC: the first lands in October locally
    cost_st,
    st.integers(0, 100_000),  # cached
    st.integers(0, 20_000),  # written
    st.integers(0, 50_000),  # reasoning
    st.booleans(),  # delivered twice
)
plan_st = st.sampled_from([None, None, "payg", "starter"])  # mostly billed by usage: shares to split


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plans=st.lists(plan_st, min_size=3, max_size=3), events=st.lists(event_st, min_size=1, max_size=14))
def test_sql_matches_the_oracle(warehouse: Warehouse, plans: list[str | None], events: list[tuple[Any, ...]]) -> None:
    load_price_book(warehouse, BOOK)
    warehouse.command("TRUNCATE TABLE rated_events")
    warehouse.command("TRUNCATE TABLE accounts")
    snapshots.refresh_snapshots(warehouse)
    ids = [f"acct-{i}" for i in range(3)]
    accounts = {
        ids[i]: Account(account_id=ids[i], plan=plan, prepaid=i == 1)  # discounts never touch the usage line
        for i, plan in enumerate(plans)
        if plan is not None
    }
    upsert_accounts(warehouse, list(accounts.values()))
    start = datetime(2026, 10, 31, 12, 0, tzinfo=UTC)
    rated, again = [], []
    for n, (acct, model, tokens, hour, cost, cached, written, reasoning, twice) in enumerate(events):
        e = usage_event(n, ids[acct], model, tokens, start + timedelta(hours=hour), cost, cached, written, reasoning)
        r = rate_event(e, accounts.get(e.account_id), BOOK)
        rated.append(r)
        if twice:
            again.append(r)
    store(warehouse, rated)
    store(warehouse, again)

    by_model = [r.to_json() for r in reconcile(warehouse, MONTH)]
    assert by_model == expected(rated, accounts)
    assert [r.to_json() for r in reconcile(warehouse, MONTH, by_account=True)] == expected(rated, accounts, True)
    assert [r.to_json() for r in reconcile(warehouse, MONTH, ids[0])] == expected(rated, accounts, only=ids[0])

    # the shares add up to the usage lines of the invoices, to the fen
    usage = sum(
        (line.amount for inv in queries.invoices(warehouse, MONTH) for line in inv.lines if line.kind == "usage"),
        Decimal(0),
    )
    assert sum((Decimal(r["billed"]) for r in by_model), Decimal(0)) == usage
