"""Prepaid-credit draws and the billing cycle's pure rules, against the cycle oracle
(tests/oracle/cycle.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.oracle import cycle as oracle
from usageflow.billing import cycle
from usageflow.billing.closing import month_over
from usageflow.billing.model import Invoice, InvoiceLine
from usageflow.pricing.credits import Grant, GrantBalance, draw, month_last_day, position

pytestmark = pytest.mark.unit

D = Decimal
T0 = datetime(2026, 1, 1, tzinfo=UTC)
MONTHS = ["2026-09", "2026-10", "2026-11", "2026-12", "2027-01", "2027-02"]
EXPIRIES = [None, date(2026, 10, 30), date(2026, 10, 31), date(2026, 11, 1), date(2026, 12, 31), date(2027, 2, 28)]

grant_st = st.tuples(
    st.integers(1, 50_000),  # amount in fen
    st.sampled_from(EXPIRIES),
    st.integers(-1, 2),  # priority
    st.integers(0, 100),  # drawn before, in % of the amount
)


def build(specs: list[tuple[int, date | None, int, int]]) -> tuple[list[GrantBalance], list[oracle.OracleGrant], dict]:
    balances, grants, drawn = [], [], {}
    for n, (fen, expires, priority, pct) in enumerate(specs):
        amount = D(fen) / 100
        used = (amount * pct / 100).quantize(D("0.01"))
        gid = f"g{(n * 7) % 10}{n}"  # ids not in grant order: age must decide, not the id
        g = Grant(gid, "acct", amount, expires, priority, T0 + timedelta(seconds=n))
        balances.append(GrantBalance(g, {"2026-08": used} if used else {}))
        grants.append(oracle.OracleGrant(gid, "acct", amount, expires, priority, n))
        drawn[gid] = used
    return balances, grants, drawn


@given(
    specs=st.lists(grant_st, max_size=6),
    month=st.sampled_from(MONTHS),
    due=st.integers(-5_000, 200_000),
)
def test_draws_match_the_oracle(specs: list[tuple[int, date | None, int, int]], month: str, due: int) -> None:
    balances, grants, drawn = build(specs)
    amount_due = D(due) / 100
    got = [(d.grant_id, d.amount) for d in draw(balances, month, amount_due)]
    assert got == oracle.draw(grants, drawn, month, amount_due)
    paid = sum((a for _, a in got), D(0))
    assert 0 <= paid <= max(amount_due, D(0))
    holds = sum((b.remaining for b in balances if b.grant.pays(month)), D(0))
    assert paid == min(max(amount_due, D(0)), holds)  # pays all it can, never more than due


def test_draw_order_priority_then_expiry_then_age() -> None:
    def g(gid: str, priority: int, expires: date | None, n: int) -> GrantBalance:
        return GrantBalance(Grant(gid, "a", D("10"), expires, priority, T0 + timedelta(seconds=n)))

    balances = [
        g("never", 0, None, 0),
        g("later", 0, date(2027, 6, 30), 1),
        g("young", 0, date(2027, 1, 31), 3),
        g("old", 0, date(2027, 1, 31), 2),
        g("first", -1, None, 4),
        g("gone", -5, date(2026, 11, 29), 5),  # expires before November ends
    ]
    got = [d.grant_id for d in draw(balances, "2026-11", D("1000"))]
    assert got == ["first", "old", "young", "later", "never"]


def test_a_grant_pays_through_its_expiry_date() -> None:
    g = Grant("g", "a", D("1"), date(2026, 11, 30), 0, T0)
    assert g.pays("2026-11") and not g.pays("2026-12")
    assert month_last_day("2028-02") == date(2028, 2, 29)


def test_position_gives_back_the_months_own_draw() -> None:
    g = Grant("g", "a", D("100"), None, 0, T0)
    b = GrantBalance(g, {"2026-10": D("30"), "2026-11": D("50")})
    assert b.remaining == D("20")
    pos = position([b], "2026-11")
    assert pos is not None and (pos.granted, pos.available) == (D("100"), D("70"))
    assert pos.remaining_after(D("80")) == 0
    assert position([b], "2027-01") == position([GrantBalance(g, {"2026-10": D("30"), "2026-11": D("50")})], "2027-01")
    assert position([GrantBalance(Grant("x", "a", D("5"), date(2026, 1, 1), 0, T0))], "2026-11") is None


# --- carriers -----------------------------------------------------------------------------


def test_carrier_is_the_first_open_month_after() -> None:
    assert cycle.carrier_month("2026-11", {"2026-11"}, set()) == "2026-12"
    assert cycle.carrier_month("2026-11", {"2026-11", "2026-12"}, {"2027-01"}) == "2027-02"
    assert cycle.carrier_month("2026-12", {"2026-12"}, {"2026-10"}) == "2027-01"


@given(
    issued=st.sets(st.sampled_from(MONTHS)),
    closed=st.sets(st.sampled_from(MONTHS)),
    start=st.sampled_from(MONTHS),
)
def test_carrier_property(issued: set[str], closed: set[str], start: str) -> None:
    got = cycle.carrier_month(start, issued, closed)
    assert got > start and got not in issued | closed
    month = oracle.following(start)
    while month < got:
        assert month in issued | closed
        month = oracle.following(month)


def test_adjustments_go_to_their_carrier_oldest_first() -> None:
    pending = {("a", "2026-09"): D("1.00"), ("a", "2026-10"): D("-0.50"), ("b", "2026-10"): D("2.00")}
    months = {"a": {"2026-09", "2026-10"}, "b": {"2026-10", "2026-11"}}
    assert cycle.adjustments_for("2026-11", pending, months, set()) == {
        "a": [("2026-09", D("1.00")), ("2026-10", D("-0.50"))]
    }
    assert cycle.adjustments_for("2026-12", pending, months, set()) == {"b": [("2026-10", D("2.00"))]}
    assert cycle.adjustments_for("2026-11", pending, months, {"2026-11"}) == {}


# --- drafts -------------------------------------------------------------------------------


def base(total: str) -> Invoice:
    return Invoice("a", "2026-11", "payg", 1, 1, (InvoiceLine("usage", D(total), 1),), D(total))


def test_credits_never_take_a_total_below_zero() -> None:
    g = GrantBalance(Grant("g", "a", D("100"), None, 0, T0))
    got = cycle.draft(base("30.00"), [("2026-10", D("5.25"))], [g])
    assert [(line.kind, line.amount) for line in got.lines] == [
        ("usage", D("30.00")),
        ("adjustment", D("5.25")),
        ("credits", D("-35.25")),
    ]
    assert got.total == 0 and got.lines[-1].draws == (("g", D("35.25")),)


def test_a_negative_adjustment_larger_than_the_charges_draws_nothing() -> None:
    g = GrantBalance(Grant("g", "a", D("100"), None, 0, T0))
    got = cycle.draft(base("3.00"), [("2026-10", D("-5.00"))], [g])
    assert got.total == D("-2.00") and [line.kind for line in got.lines] == ["usage", "adjustment"]


def test_invoice_numbers() -> None:
    assert cycle.invoice_number("2026-11", 1) == "INV-202611-000001"
    assert cycle.invoice_number("2026-11", 999_999) == "INV-202611-999999"
    with pytest.raises(ValueError, match="does not fit"):
        cycle.invoice_number("2026-11", 1_000_000)
    assert cycle.next_month("2026-12") == "2027-01" and cycle.next_month("2026-01") == "2026-02"


def test_a_month_is_over_once_it_is_over_everywhere() -> None:
    assert not month_over("2026-11", datetime(2026, 12, 1, 11, 59, 59, tzinfo=UTC))
    assert month_over("2026-11", datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    assert not month_over("2026-12", datetime(2026, 12, 31, 23, 0, tzinfo=UTC))
