"""The billing SQL views against the pure-Python reference, to the fen.

Rated rows are built as the stream builds them (rate_event on UsageEvents) and inserted into
`rated_events` directly; accounts and the price book go in through usageflow.billing.tables.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.spec_examples import CLI_MD_INVOICE
from tests.oracle import billing as ref
from usageflow.billing import queries, snapshots
from usageflow.billing.model import Invoice
from usageflow.billing.tables import ACCOUNT_COLUMNS, load_price_book, upsert_accounts
from usageflow.errors import PriceBookError, UsageflowError
from usageflow.pricing.price_book import PriceBook, Tier
from usageflow.pricing.rating import RatedEvent, rate_event
from usageflow.schemas import Account, UsageEvent
from usageflow.warehouse import Warehouse

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BOOK = PriceBook()
MONTH = "2026-11"


def rated_event_columns() -> list[str]:
    """The column list of sql/0001_rated_events.sql."""
    text = (ROOT / "sql" / "0001_rated_events.sql").read_text()
    body = text[text.index("(") + 1 : text.index("\nENGINE")]
    return [m.group(1) for m in re.finditer(r"^\s+([a-z_0-9]+)\s+\S", body, re.MULTILINE)]


COLUMNS = rated_event_columns()


def row_of(r: RatedEvent) -> list[Any]:
    e = r.event
    values = {
        "event_id": e.event_id,
        "account_id": e.account_id,
        "api_key_id": e.api_key_id,
        "model": e.model,
        "region": e.region or "",
        "feature": e.feature or "",
        "user_id": e.user_id or "",
        "input_tokens": e.input_tokens,
        "output_tokens": e.output_tokens,
        "ts": e.ts.astimezone(UTC),
        "latency_ms": e.latency_ms,
        "input_per_1k": r.input_per_1k,
        "output_per_1k": r.output_per_1k,
        "region_multiplier": r.region_multiplier,
        "off_peak_multiplier": r.off_peak_multiplier,
        "list_cost": r.list_cost,
        "billing_tz": r.billing_tz,
        "billing_month": r.billing_month,
        "billing_date": r.billing_date,
        "extra": "",
        "ingested_at": datetime.now(UTC),
    }
    return [values[c] for c in COLUMNS]


def insert(warehouse: Warehouse, rated: Sequence[RatedEvent]) -> None:
    if rated:
        warehouse.insert_rows("rated_events", [row_of(r) for r in rated], COLUMNS)


def event(
    event_id: str,
    account_id: str,
    tokens: int,
    ts: datetime,
    model: str = "qwen-max",
    region: str | None = "us-west",
    feature: str | None = None,
    key: str = "k1",
) -> UsageEvent:
    return UsageEvent(
        schema_version=1,
        event_id=event_id,
        account_id=account_id,
        api_key_id=key,
        model=model,
        region=region,
        input_tokens=tokens // 3,
        output_tokens=tokens - tokens // 3,
        ts=ts,
        latency_ms=100,
        feature=feature,
    )


@dataclass
class World:
    """What went into the warehouse, for the reference."""

    book: PriceBook
    accounts: dict[str, Account]  # current, not deleted
    rated: list[RatedEvent]

    def rows(self, account_id: str, month: str) -> list[ref.UsageRow]:
        seen: dict[str, RatedEvent] = {}
        for r in self.rated:
            if r.event.account_id == account_id and r.billing_month == month:
                seen.setdefault(r.event.event_id, r)
        return [ref.usage_row(r) for r in seen.values()]

    def billed(self, month: str) -> list[str]:
        ids = {r.event.account_id for r in self.rated if r.billing_month == month}
        ids |= {a.account_id for a in self.accounts.values() if a.plan != "payg"}
        return sorted(ids)

    def invoices(self, month: str) -> list[Invoice]:
        return [ref.invoice(self.book, a, month, self.accounts.get(a), self.rows(a, month)) for a in self.billed(month)]


def rate_all(events: Iterable[UsageEvent], accounts: dict[str, Account]) -> list[RatedEvent]:
    return [rate_event(e, accounts.get(e.account_id), BOOK) for e in events]


def peak(day: int = 10) -> datetime:
    return datetime(2026, 11, day, 4, 0, tzinfo=UTC)  # 12:00 Asia/Shanghai


# --- fixed cases --------------------------------------------------------------------------


def test_pricing_md_example(warehouse: Warehouse) -> None:
    load_price_book(warehouse, BOOK)
    rated = rate_all([event("e1", "school", 600_000, peak())], {})
    insert(warehouse, rated)
    got = queries.invoices(warehouse, MONTH)
    assert [i.to_json() for i in got] == [
        {
            "account_id": "school",
            "month": MONTH,
            "currency": "CNY",
            "plan": "payg",
            "status": "draft",
            "tokens": 600000,
            "billable_tokens": 600000,
            "lines": [{"kind": "usage", "amount": "3.24", "tokens": 600000}],
            "total": "3.24",
        }
    ]
    assert got == World(BOOK, {}, rated).invoices(MONTH)


def test_exact_halves_round_away_from_zero(warehouse: Warehouse) -> None:
    load_price_book(warehouse, BOOK)
    accounts = {"pre": Account(account_id="pre", prepaid=True)}
    upsert_accounts(warehouse, list(accounts.values()))
    rated = rate_all([event("h1", "half", 7_500, peak()), event("h2", "pre", 75_000, peak())], accounts)
    insert(warehouse, rated)
    got = queries.invoices(warehouse, MONTH)
    assert got == World(BOOK, accounts, rated).invoices(MONTH)
    assert [[(line.kind, str(line.amount)) for line in i.lines] for i in got] == [
        [("usage", "0.05")],
        [("usage", "0.45"), ("discount_prepaid", "-0.05")],
    ]


def cli_example(warehouse: Warehouse) -> World:
    load_price_book(warehouse, BOOK)
    account = Account(account_id="edu-001", plan="standard", contract_months=12, educational=True)
    upsert_accounts(warehouse, [account])
    accounts = {"edu-001": account}
    events = [event(f"e{i}", "edu-001", 250_000, peak(1 + i)) for i in range(10)]
    rated = rate_all(events, accounts)
    insert(warehouse, rated)
    return World(BOOK, accounts, rated)


def test_cli_md_example_and_duplicates(warehouse: Warehouse) -> None:
    world = cli_example(warehouse)
    expected = CLI_MD_INVOICE
    assert [i.to_json() for i in queries.invoices(warehouse, MONTH)] == expected
    # every event again (a producer retry), and two of them a third time in one batch
    insert(warehouse, world.rated)
    insert(warehouse, world.rated[:2] + world.rated[:2])
    assert [i.to_json() for i in queries.invoices(warehouse, MONTH, "edu-001")] == expected
    assert queries.invoices(warehouse, MONTH) == world.invoices(MONTH)
    lines = warehouse.query("SELECT line_no, kind, amount FROM invoice_lines WHERE month = '2026-11' ORDER BY line_no")
    assert [(r["line_no"], r["kind"], str(r["amount"])) for r in lines] == [
        (1, "plan_fee", "999.00"),
        (2, "usage", "2.76"),
        (3, "discount_contract", "-150.26"),
        (4, "discount_educational", "-170.30"),
    ]


def test_cli_md_example_report_and_recommendation(warehouse: Warehouse) -> None:
    world = cli_example(warehouse)
    account = world.accounts["edu-001"]
    rows = world.rows("edu-001", MONTH)
    as_of = date(2026, 11, 15)
    (report,) = queries.report(warehouse, MONTH, "edu-001", as_of=as_of)
    assert report == ref.usage_report(BOOK, "edu-001", MONTH, account, rows, as_of)
    assert report.cost_estimate == Decimal("688.54")
    rec = queries.recommend(warehouse, "edu-001", MONTH, Decimal("0.2"))
    assert rec == ref.recommend(BOOK, "edu-001", MONTH, account, rows, Decimal("0.2"))
    assert (rec.recommended_plan, str(rec.saving)) == ("payg", "673.61")


def test_plan_fee_without_usage_and_unknown_accounts(warehouse: Warehouse) -> None:
    load_price_book(warehouse, BOOK)
    accounts = {
        "plan-idle": Account(account_id="plan-idle", plan="starter", prepaid=True),
        "payg-idle": Account(account_id="payg-idle", educational=True),
    }
    upsert_accounts(warehouse, list(accounts.values()))
    rated = rate_all([event("x1", "stranger", 123_457, peak())], accounts)
    insert(warehouse, rated)
    world = World(BOOK, accounts, rated)
    got = queries.invoices(warehouse, MONTH)
    assert [i.account_id for i in got] == ["plan-idle", "stranger"]
    assert got == world.invoices(MONTH)
    # a month with no usage anywhere: the plan fee is still due
    assert [i.account_id for i in queries.invoices(warehouse, "2027-03")] == ["plan-idle"]
    # one account asked for by name always gets an invoice
    (idle,) = queries.invoices(warehouse, MONTH, "payg-idle")
    assert [(line.kind, str(line.amount)) for line in idle.lines] == [
        ("usage", "0.00"),
        ("discount_educational", "0.00"),
    ]
    (ghost,) = queries.invoices(warehouse, MONTH, "nobody")
    assert (ghost.plan, str(ghost.total)) == ("payg", "0.00")
    rec = queries.recommend(warehouse, "nobody", MONTH)
    assert (rec.current_plan, rec.recommended_plan, rec.base_tokens) == ("payg", "payg", 0)


def test_account_versions_and_deletes(warehouse: Warehouse) -> None:
    load_price_book(warehouse, BOOK)
    upsert_accounts(warehouse, [Account(account_id="a1", plan="starter")])
    upsert_accounts(warehouse, [Account(account_id="a1", plan="standard", prepaid=True)])
    upsert_accounts(warehouse, [Account(account_id="a2", plan="enterprise")])
    rated = rate_all([event("d1", "a2", 700_000, peak())], {})
    insert(warehouse, rated)
    (a1,) = queries.invoices(warehouse, MONTH, "a1")
    assert (a1.plan, str(a1.total)) == ("standard", "899.10")
    upsert_accounts(warehouse, [], deleted_ids=["a2"])
    (a2,) = queries.invoices(warehouse, MONTH, "a2")
    assert a2 == ref.invoice(BOOK, "a2", MONTH, None, World(BOOK, {}, rated).rows("a2", MONTH))
    assert [i.account_id for i in queries.invoices(warehouse, MONTH)] == ["a1", "a2"]
    warehouse.command("OPTIMIZE TABLE accounts FINAL")
    assert [i.account_id for i in queries.invoices(warehouse, MONTH)] == ["a1", "a2"]


def test_price_book_reload(warehouse: Warehouse) -> None:
    v1 = load_price_book(warehouse, BOOK)
    assert load_price_book(warehouse, BOOK) == v1  # same content: no new version
    plans = dict(BOOK.plans)
    plans["standard"] = plans["standard"].model_copy(update={"monthly_fee": Decimal("1999")})
    tiers = (Tier(start=0, multiplier=Decimal("1")), Tier(start=1000, multiplier=Decimal("0.5")))
    book2 = BOOK.model_copy(update={"plans": plans, "tiers": tiers})
    upsert_accounts(warehouse, [Account(account_id="s", plan="standard")])
    rated = rate_all([event("p1", "s", 2_100_000, peak())], {})
    insert(warehouse, rated)
    assert load_price_book(warehouse, book2) == v1 + 1
    (inv,) = queries.invoices(warehouse, MONTH, "s")
    world = World(book2, {"s": Account(account_id="s", plan="standard")}, rated)
    assert inv == world.invoices(MONTH)[0]
    assert str(inv.lines[0].amount) == "1999.00"
    with pytest.raises(PriceBookError):
        bad = (Tier(start=0, multiplier=Decimal("0.1234567")),)
        load_price_book(warehouse, BOOK.model_copy(update={"tiers": bad}))


def test_snapshots_follow_their_inputs(warehouse: Warehouse) -> None:
    load_price_book(warehouse, BOOK)
    upsert_accounts(warehouse, [Account(account_id="h", plan="starter")])
    # A hand-written account row (no upsert): the invoice keeps reading the snapshot …
    later = datetime.now(UTC) + timedelta(days=1)
    row = ["h", "enterprise", 0, 0, False, 0, False, None, None, later, 0]
    warehouse.insert_rows("accounts", [row], ACCOUNT_COLUMNS)
    assert queries.invoices(warehouse, MONTH, "h")[0].plan == "starter"
    assert not snapshots.matches(warehouse, "accounts_current")
    # … until the snapshots are rebuilt (here by reloading the same price book, as a worker
    # start or `usageflow migrate` does); then every snapshot equals its computing view.
    load_price_book(warehouse, BOOK)
    assert queries.invoices(warehouse, MONTH, "h")[0].plan == "enterprise"
    assert all(snapshots.matches(warehouse, name) for name in snapshots.ALL)
    leftovers = warehouse.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE '%staging%'"
    )
    assert leftovers == []


def test_snapshot_columns_are_the_views_columns(warehouse: Warehouse) -> None:
    def columns(table: str) -> list[tuple[str, str]]:
        return [
            (r["name"], r["type"].replace("LowCardinality(UInt8)", "UInt8"))
            for r in warehouse.query(f"DESCRIBE TABLE {table}")
        ]

    for name in snapshots.ALL:
        assert columns(name) == columns(f"{name}_computed"), name


def test_user_values_are_parameters(warehouse: Warehouse) -> None:
    load_price_book(warehouse, BOOK)
    insert(warehouse, rate_all([event("q1", "victim", 1000, peak())], {}))
    sneaky = "x' OR 1=1 --"
    (inv,) = queries.invoices(warehouse, MONTH, sneaky)
    assert inv.account_id == sneaky
    assert inv.tokens == 0
    with pytest.raises(UsageflowError):
        queries.invoices(warehouse, "2026-11' OR '1'='1")
    with pytest.raises(UsageflowError):
        queries.recommend(warehouse, "victim", MONTH, "lots")


# --- docs/analysts.md examples run --------------------------------------------------------


def test_analyst_examples_run(warehouse: Warehouse) -> None:
    world = cli_example(warehouse)
    upsert_accounts(warehouse, [Account(account_id="near", plan="starter")])
    extra = rate_all(
        [
            event("n1", "near", 450_000, peak(3), feature="code_completion", key="k9"),
            event("n2", "near", 300_000, peak(4) + timedelta(hours=18), model="qwen-plus"),
        ],
        world.accounts,
    )
    insert(warehouse, extra)
    text = (ROOT / "docs" / "analysts.md").read_text()
    blocks = re.findall(r"```sql\n(.*?)```", text, re.DOTALL)
    assert len(blocks) >= 8
    for sql in blocks:
        warehouse.query(sql)
    near = warehouse.query(next(b for b in blocks if "percent_used" in b))
    assert [r["account_id"] for r in near] == ["near", "edu-001"]  # 150 %, 125 %


# --- SQL == reference on random data ------------------------------------------------------

PLANS = ["payg", "starter", "standard", "professional", "enterprise"]
account_st = st.builds(
    Account,
    account_id=st.just("x"),
    plan=st.sampled_from(PLANS),
    extra_tokens=st.sampled_from([0, 0, 0, 300_000, 1_234_567]),
    extra_concurrent=st.sampled_from([0, 0, 2]),
    prepaid=st.booleans(),
    contract_months=st.sampled_from([0, 12, 24]),
    educational=st.booleans(),
    timezone=st.sampled_from([None, None, "America/Los_Angeles", "Asia/Tokyo"]),
)
event_st = st.tuples(
    st.integers(min_value=0, max_value=2),  # account
    st.sampled_from(["qwen-max", "qwen-max", "qwen-plus", "qwen-turbo"]),
    st.sampled_from([None, "us-west", "eu-central", "ap-southeast"]),
    st.integers(min_value=0, max_value=31 * 24 - 1),  # hour from 2026-10-31T12:00Z
    st.one_of(st.integers(min_value=0, max_value=3_000_000), st.integers(min_value=0, max_value=5000)),
    st.sampled_from([None, "code_completion", "explanation"]),
    st.sampled_from(["k1", "k2"]),
    st.booleans(),  # sent twice
)
state_st = st.sampled_from(["absent", "present", "present", "present", "deleted"])


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    states=st.lists(state_st, min_size=3, max_size=3),
    accounts=st.lists(account_st, min_size=3, max_size=3),
    events=st.lists(event_st, min_size=0, max_size=12),
    as_of_day=st.integers(min_value=1, max_value=40),
    growth=st.sampled_from([Decimal("0.2"), Decimal("0"), Decimal("-0.5"), Decimal("1.37")]),
)
def test_sql_matches_reference(
    warehouse: Warehouse,
    states: list[str],
    accounts: list[Account],
    events: list[tuple[Any, ...]],
    as_of_day: int,
    growth: Decimal,
) -> None:
    load_price_book(warehouse, BOOK)
    warehouse.command("TRUNCATE TABLE rated_events")
    warehouse.command("TRUNCATE TABLE accounts")
    snapshots.refresh_snapshots(warehouse)  # the accounts were emptied by hand, not by upserts
    ids = [f"acct-{i}" for i in range(3)]
    current: dict[str, Account] = {}
    for i, state in enumerate(states):
        if state == "absent":
            continue
        account = accounts[i].model_copy(update={"account_id": ids[i]})
        upsert_accounts(warehouse, [account])
        if state == "deleted":
            upsert_accounts(warehouse, [], deleted_ids=[ids[i]])
        else:
            current[ids[i]] = account
    start = datetime(2026, 10, 31, 12, 0, tzinfo=UTC)
    made = []
    twice = []
    for n, (acct, model, region, hour, tokens, feature, key, dup) in enumerate(events):
        ev = event(f"ev-{n}", ids[acct], tokens, start + timedelta(hours=hour), model, region, feature, key)
        made.append(ev)
        if dup:
            twice.append(ev)
    rated = rate_all(made, current)
    insert(warehouse, rated)
    insert(warehouse, rate_all(twice, current))
    world = World(BOOK, current, rated)

    assert queries.invoices(warehouse, MONTH) == world.invoices(MONTH)

    as_of = date(2026, 11, 1) + timedelta(days=as_of_day - 1)
    expected_reports = [
        ref.usage_report(BOOK, a, MONTH, current.get(a), world.rows(a, MONTH), as_of) for a in world.billed(MONTH)
    ]
    assert queries.report(warehouse, MONTH, as_of=as_of) == expected_reports

    expected_recs = [
        ref.recommend(BOOK, a, MONTH, current.get(a), world.rows(a, MONTH), growth) for a in world.billed(MONTH)
    ]
    assert queries.recommendations(warehouse, MONTH, growth) == expected_recs


def test_invoices_of_every_month_agree(warehouse: Warehouse) -> None:
    """The un-parameterised `invoices` view covers the months around the data."""
    load_price_book(warehouse, BOOK)
    upsert_accounts(warehouse, [Account(account_id="p", plan="starter")])
    rated = rate_all(
        [
            event("m1", "p", 700_000, datetime(2026, 9, 30, 17, 0, tzinfo=UTC)),  # Oct 1 local
            event("m2", "u", 50_000, datetime(2026, 11, 2, 4, 0, tzinfo=UTC)),
        ],
        {"p": Account(account_id="p", plan="starter")},
    )
    insert(warehouse, rated)
    rows = warehouse.query("SELECT account_id, month, total FROM invoices ORDER BY month, account_id")
    months = defaultdict(list)
    for r in rows:
        months[r["month"]].append(r["account_id"])
    assert months["2026-10"] == ["p"]
    assert months["2026-11"] == ["p", "u"]
    assert "2026-09" not in months
    current = warehouse.query("SELECT current_month FROM billing_period")[0]["current_month"]
    assert max(months) == max(current, "2026-11")
