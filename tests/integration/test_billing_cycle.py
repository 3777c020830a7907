"""Closing months, adjustments and prepaid credits in a real warehouse, against the cycle oracle
(tests/oracle/cycle.py), to the fen: fixed cases, then random timelines of events, account
changes, grants and closes (hypothesis)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.test_billing_sql import event, insert
from tests.oracle import billing as ref
from tests.oracle.cycle import CycleOracle
from usageflow.billing import closing, credits, ledger, snapshots
from usageflow.billing.tables import load_price_book, upsert_accounts
from usageflow.pricing.price_book import PriceBook
from usageflow.pricing.rating import rate_event
from usageflow.schemas import Account
from usageflow.warehouse import Warehouse

pytestmark = pytest.mark.integration

BOOK = PriceBook()
CLOSED_AT = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)  # every month up to 2026-11 is over
D = Decimal


@dataclass
class Timeline:
    """Drives the warehouse and the oracle with the same operations."""

    warehouse: Warehouse
    oracle: CycleOracle = field(default_factory=lambda: CycleOracle(PriceBook()))
    n: int = 0

    def account(self, account: Account) -> None:
        upsert_accounts(self.warehouse, [account])
        self.oracle.set_account(account)

    def events(self, account_id: str, month: str, tokens: Sequence[int], hour: int = 4) -> None:
        """Events of `tokens` each, on days 1, 2, … of `month` at `hour`:00 UTC (peak in Shanghai)."""
        year, mon = int(month[:4]), int(month[5:7])
        account = self.oracle.accounts.get(account_id)
        rated = []
        for day, count in enumerate(tokens, 1):
            self.n += 1
            e = event(f"ev-{self.n}", account_id, count, datetime(year, mon, day, hour, tzinfo=UTC))
            r = rate_event(e, account, BOOK)
            rated.append(r)
            self.oracle.add_event(account_id, r.billing_month, e.event_id, ref.usage_row(r))
        insert(self.warehouse, rated)

    def grant(
        self, grant_id: str, account_id: str, amount: str, expires: date | None = None, priority: int = 0
    ) -> None:
        self.n += 1
        credits.grant(
            self.warehouse,
            grant_id=grant_id,
            account_id=account_id,
            amount=D(amount),
            expires=expires,
            priority=priority,
            now=datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=self.n),
        )
        self.oracle.grant(grant_id, account_id, D(amount), expires, priority)

    def close(self, month: str, account_id: str | None = None) -> list[Any]:
        got = closing.close_month(self.warehouse, month, account_id, now=CLOSED_AT)
        assert got == self.oracle.close(month, account_id, CLOSED_AT)
        return got

    def check(self, months: Sequence[str]) -> None:
        for month in months:
            assert ledger.month_invoices(self.warehouse, month) == self.oracle.invoices(month), month
        for account_id in {*self.oracle.accounts, *(a for a, _ in self.oracle.usage)}:
            got = [
                (b.grant.grant_id, b.grant.amount, b.remaining, b.grant.expires, b.grant.priority)
                for b in credits.balance(self.warehouse, account_id)
            ]
            assert got == self.oracle.balances(account_id), account_id


@pytest.fixture
def timeline(warehouse: Warehouse) -> Timeline:
    load_price_book(warehouse, BOOK)
    return Timeline(warehouse)


def lines(invoice: Any) -> list[tuple[str, str | None, str]]:
    return [(line.kind, line.for_month, str(line.amount)) for line in invoice.lines]


# --- fixed cases --------------------------------------------------------------------------


def test_close_numbers_in_account_order_and_is_idempotent(timeline: Timeline) -> None:
    timeline.account(Account(account_id="edu-001", plan="standard", contract_months=12, educational=True))
    timeline.account(Account(account_id="idle-plan", plan="starter"))
    timeline.events("walk-in", "2026-11", [200_000, 200_000, 200_000])
    timeline.events("edu-001", "2026-11", [500_000] * 5)
    first = timeline.close("2026-11")
    assert [(i.account_id, i.number, i.status, str(i.total)) for i in first] == [
        ("edu-001", "INV-202611-000001", "issued", "681.20"),  # docs/pricing.md §6
        ("idle-plan", "INV-202611-000002", "issued", "299.00"),  # no usage: the plan fee
        ("walk-in", "INV-202611-000003", "issued", "3.24"),  # docs/pricing.md §3
    ]
    assert {i.issued_at for i in first} == {CLOSED_AT}
    assert timeline.close("2026-11") == first  # closing again prints the same invoices
    assert ledger.month_invoices(timeline.warehouse, "2026-11") == first
    assert all(i.pending_adjustment is None for i in first)
    runs = ledger.close_runs(timeline.warehouse, "2026-11")
    assert [(r.seq, r.first_number, r.last_number, r.complete) for r in runs] == [(1, 1, 3, True)]
    timeline.check(["2026-10", "2026-11", "2026-12"])


def test_late_events_make_one_adjustment_carried_once(timeline: Timeline) -> None:
    timeline.account(Account(account_id="edu-001", plan="standard", contract_months=12, educational=True))
    timeline.events("edu-001", "2026-10", [500_000] * 5)
    timeline.close("2026-10")
    timeline.events("edu-001", "2026-10", [100_000])  # late: 2,600,000 tokens, as the budget test (681.52)
    (october,) = ledger.month_invoices(timeline.warehouse, "2026-10")
    assert october.total == D("681.20") and october.pending_adjustment == D("0.32")
    (november,) = ledger.month_invoices(timeline.warehouse, "2026-11")
    assert november.status == "draft"
    assert lines(november)[-1] == ("adjustment", "2026-10", "0.32")
    assert november.total == D("679.32") + D("0.32")  # 999 × 0.85 × 0.8 = 679.32, plus the adjustment
    (issued,) = timeline.close("2026-11")
    assert lines(issued)[-1] == ("adjustment", "2026-10", "0.32") and issued.pending_adjustment is None
    (october,) = ledger.month_invoices(timeline.warehouse, "2026-10")
    assert october.pending_adjustment is None  # carried by the issued November invoice
    (december,) = ledger.month_invoices(timeline.warehouse, "2026-12")
    assert [k for k, _, _ in lines(december)] == ["plan_fee", "usage", "discount_contract", "discount_educational"]
    timeline.events("edu-001", "2026-10", [400_000])  # later still: the next open month carries only the rest
    (december,) = ledger.month_invoices(timeline.warehouse, "2026-12")
    assert lines(december)[-1][:2] == ("adjustment", "2026-10")
    timeline.check(["2026-10", "2026-11", "2026-12"])


def test_an_issued_month_keeps_its_terms(timeline: Timeline) -> None:
    timeline.account(Account(account_id="s", plan="starter"))
    timeline.events("s", "2026-10", [600_000])
    (issued,) = timeline.close("2026-10")
    timeline.account(Account(account_id="s", plan="enterprise", educational=True))
    (october,) = ledger.month_invoices(timeline.warehouse, "2026-10")
    assert october == issued  # no adjustment for a change of plan
    timeline.events("s", "2026-10", [100_000])  # but late usage is priced with October's terms (starter)
    (october,) = ledger.month_invoices(timeline.warehouse, "2026-10")
    assert october.pending_adjustment == D("0.54")  # overage 100,000 → 200,000 tokens at 0.006: 0.60 → 1.14
    timeline.check(["2026-10", "2026-11"])


def test_credits_draw_in_order_and_never_below_zero(timeline: Timeline) -> None:
    timeline.account(Account(account_id="c", plan="payg"))
    timeline.events("c", "2026-10", [1_000_000] * 10)  # 10M tokens: 60.00 list × tier factor 0.666 = 39.96
    timeline.grant("expired-in-oct", "c", "1000", expires=date(2026, 10, 30))  # ends before the month does
    timeline.grant("late-low-priority", "c", "30", priority=5)
    timeline.grant("old", "c", "10", expires=date(2027, 6, 30))
    timeline.grant("new", "c", "10.50", expires=date(2027, 6, 30))
    timeline.grant("soon", "c", "5", expires=date(2026, 10, 31))
    (draft,) = ledger.month_invoices(timeline.warehouse, "2026-10")
    assert draft.status == "draft" and draft.lines[-1].kind == "credits"
    assert draft.lines[-1].draws == (
        ("soon", D("5")),  # priority 0, the earliest expiry that still covers October
        ("old", D("10")),  # priority 0, same expiry as "new" but granted first
        ("new", D("10.50")),
        ("late-low-priority", D("14.46")),  # priority 5: last, for what is left of 39.96
    )
    assert draft.total == D("0.00")
    assert all(b.remaining == b.grant.amount for b in credits.balance(timeline.warehouse, "c"))  # drafts draw nothing
    (issued,) = timeline.close("2026-10")
    assert issued.total == D("0.00")
    remaining = {b.grant.grant_id: b.remaining for b in credits.balance(timeline.warehouse, "c")}
    assert remaining == {"soon": 0, "old": 0, "new": 0, "late-low-priority": D("15.54"), "expired-in-oct": 1000}
    timeline.check(["2026-10", "2026-11"])


def test_a_grant_id_means_one_grant(timeline: Timeline) -> None:
    timeline.events("c", "2026-10", [1000])
    timeline.grant("g1", "c", "100")
    timeline.grant("g1", "c", "100")  # the same again: nothing changes
    with pytest.raises(credits.CreditError, match="never reused"):
        credits.grant(timeline.warehouse, grant_id="g1", account_id="c", amount=D("200"))
    assert [b.grant.amount for b in credits.balance(timeline.warehouse, "c")] == [D("100.00")]


def test_late_usage_of_an_account_without_an_invoice_is_issued_by_closing_again(timeline: Timeline) -> None:
    timeline.events("a", "2026-10", [1000])
    timeline.close("2026-10")
    timeline.events("b", "2026-10", [100_000])  # b had nothing in October when it was closed
    got = ledger.month_invoices(timeline.warehouse, "2026-10")
    assert [(i.account_id, i.status) for i in got] == [("a", "issued"), ("b", "draft")]
    again = timeline.close("2026-10")
    assert [(i.account_id, i.number) for i in again] == [("a", "INV-202610-000001"), ("b", "INV-202610-000002")]
    timeline.check(["2026-10", "2026-11"])


def test_one_account_first_then_the_rest(timeline: Timeline) -> None:
    timeline.events("z", "2026-10", [1000])
    timeline.events("a", "2026-10", [1000])
    timeline.events("m", "2026-10", [1000])
    assert [i.number for i in timeline.close("2026-10", "z")] == ["INV-202610-000001"]
    assert [(i.account_id, i.status) for i in ledger.month_invoices(timeline.warehouse, "2026-10")] == [
        ("a", "draft"),
        ("m", "draft"),
        ("z", "issued"),
    ]
    assert [i.number for i in timeline.close("2026-10")] == [
        "INV-202610-000002",
        "INV-202610-000003",
        "INV-202610-000001",
    ]
    timeline.check(["2026-10"])


def test_a_month_with_no_usage(timeline: Timeline) -> None:
    timeline.account(Account(account_id="p", plan="starter", prepaid=True))
    timeline.account(Account(account_id="q", plan="payg"))
    timeline.grant("g", "p", "100")
    (issued,) = timeline.close("2026-09")
    assert lines(issued) == [
        ("plan_fee", None, "299.00"),
        ("usage", None, "0.00"),
        ("discount_prepaid", None, "-29.90"),
        ("credits", None, "-100.00"),
    ]
    assert issued.total == D("169.10")
    timeline.check(["2026-09", "2026-10"])


def test_billing_cycle_md_worked_example(timeline: Timeline) -> None:
    """docs/billing-cycle.md, "Worked example" (and docs/pricing.md §13)."""
    timeline.account(Account(account_id="edu-001", plan="standard", contract_months=12, educational=True))
    timeline.grant("PO-2026-117", "edu-001", "500", expires=date(2027, 6, 30))
    timeline.events("edu-001", "2026-10", [500_000] * 5)
    (october,) = timeline.close("2026-10")
    assert october.number == "INV-202610-000001" and october.total == D("181.20")
    assert lines(october)[-1] == ("credits", None, "-500.00")
    timeline.events("edu-001", "2026-10", [100_000])
    (october,) = ledger.month_invoices(timeline.warehouse, "2026-10")
    assert october.total == D("181.20") and october.pending_adjustment == D("0.32")
    timeline.events("edu-001", "2026-11", [1_000_000, 1_000_000])
    (november,) = ledger.month_invoices(timeline.warehouse, "2026-11")
    assert lines(november) == [
        ("plan_fee", None, "999.00"),
        ("usage", None, "0.00"),
        ("discount_contract", None, "-149.85"),
        ("discount_educational", None, "-169.83"),
        ("adjustment", "2026-10", "0.32"),
    ]
    assert november.total == D("679.64")
    (issued,) = timeline.close("2026-11")
    assert issued.number == "INV-202611-000001" and issued.total == D("679.64")
    (october,) = ledger.month_invoices(timeline.warehouse, "2026-10")
    assert october.pending_adjustment is None
    timeline.check(["2026-10", "2026-11", "2026-12"])


def test_idle_rows_are_invoice_base_for_rows_of_accounts_without_usage(timeline: Timeline) -> None:
    """The one-query rows of accounts that carry an adjustment into a month without usage."""
    timeline.account(Account(account_id="pd", plan="payg", prepaid=True, contract_months=24, educational=True))
    timeline.account(Account(account_id="odd", plan="starter", extra_tokens=1000, extra_concurrent=1, prepaid=True))
    timeline.account(Account(account_id="gone", plan="payg", prepaid=True))
    upsert_accounts(timeline.warehouse, [], deleted_ids=["gone"])
    timeline.events("busy", "2026-11", [1000])
    names = ["gone", "never-seen", "odd", "pd"]
    idle = ledger.idle_rows(timeline.warehouse, "2026-11", names)
    assert idle == [ledger.base_rows(timeline.warehouse, "2026-11", a)[0] for a in names]


def test_a_month_that_is_not_over_cannot_be_closed(timeline: Timeline) -> None:
    with pytest.raises(closing.CloseError, match="not over"):
        closing.close_month(timeline.warehouse, "2026-12", now=CLOSED_AT)
    with pytest.raises(closing.CloseError, match="not over"):
        closing.close_month(timeline.warehouse, "2026-11", now=datetime(2026, 12, 1, 11, 59, tzinfo=UTC))


# --- random timelines ---------------------------------------------------------------------

MONTHS = ["2026-08", "2026-09", "2026-10", "2026-11"]
IDS = ["a", "b", "c"]
account_st = st.builds(
    Account,
    account_id=st.just("x"),
    plan=st.sampled_from(["payg", "payg", "starter", "standard"]),
    prepaid=st.booleans(),
    contract_months=st.sampled_from([0, 12]),
    educational=st.booleans(),
)
EXPIRIES = [None, date(2026, 9, 29), date(2026, 9, 30), date(2026, 10, 31), date(2027, 1, 31)]
op_st = st.one_of(
    st.tuples(
        st.just("events"),
        st.sampled_from(IDS),
        st.sampled_from(MONTHS),
        st.lists(st.one_of(st.integers(0, 900_000), st.integers(0, 3000)), min_size=1, max_size=3),
    ),
    st.tuples(st.just("account"), st.sampled_from(IDS), account_st),
    st.tuples(
        st.just("grant"),
        st.sampled_from(IDS),
        st.integers(1, 400_00),  # fen
        st.sampled_from(EXPIRIES),
        st.integers(0, 2),
    ),
    st.tuples(st.just("close"), st.sampled_from(MONTHS), st.sampled_from([None, None, *IDS])),
)


def reset(warehouse: Warehouse) -> None:
    for table in (
        "rated_events",
        "accounts",
        "credit_grants",
        "invoice_close_runs",
        "invoice_close_done",
        "issued_invoices",
    ):
        warehouse.command(f"TRUNCATE TABLE {table}")
    snapshots.refresh_snapshots(warehouse)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(op_st, min_size=1, max_size=9))
def test_random_timelines_match_the_oracle(warehouse: Warehouse, ops: list[tuple[Any, ...]]) -> None:
    load_price_book(warehouse, BOOK)
    reset(warehouse)
    t = Timeline(warehouse)
    for n, op in enumerate(ops):
        if op[0] == "events":
            t.events(op[1], op[2], op[3], hour=(n * 5) % 24)
        elif op[0] == "account":
            t.account(op[2].model_copy(update={"account_id": op[1]}))
        elif op[0] == "grant":
            t.grant(f"g{n}", op[1], str(D(op[2]) / 100), op[3], op[4])
        else:
            t.close(op[1], op[2])
    t.check([*MONTHS, "2026-12"])
