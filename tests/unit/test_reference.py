"""The tests' billing oracle (tests/oracle/billing.py): worked examples of the pricing rules and of
the CLI's invoice JSON, and edge cases. tests/unit/test_pricing.py holds the production code to it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction

import pytest

from tests.fixtures.spec_examples import CLI_MD_INVOICE
from tests.oracle import billing as ref
from usageflow.billing.model import Invoice, InvoiceLine, dumps, money, money_str
from usageflow.pricing.price_book import PriceBook
from usageflow.pricing.rating import rate_event
from usageflow.schemas import Account, UsageEvent

pytestmark = pytest.mark.unit

BOOK = PriceBook()
D = Decimal


def rows_for(
    tokens: int,
    *,
    model: str = "qwen-max",
    region: str | None = "us-west",
    hour_utc: int = 4,  # 12:00 in Asia/Shanghai: peak
    feature: str | None = None,
    account: Account | None = None,
    day: int = 10,
    key: str = "k1",
) -> list[ref.UsageRow]:
    """Rows rated exactly as the stream would, in events of at most 10M tokens."""
    out = []
    n = 0
    while tokens > 0:
        chunk = min(tokens, 10_000_000)
        event = UsageEvent(
            schema_version=1,
            event_id=f"e{n}",
            account_id=account.account_id if account else "acct",
            api_key_id=key,
            model=model,
            region=region,
            input_tokens=chunk // 2,
            output_tokens=chunk - chunk // 2,
            ts=datetime(2026, 11, day, hour_utc, 0, tzinfo=UTC),
            latency_ms=10,
            feature=feature,
        )
        out.append(ref.usage_row(rate_event(event, account, BOOK)))
        tokens -= chunk
        n += 1
    return out


def lines(inv: Invoice) -> list[tuple[str, str]]:
    return [(line.kind, money_str(line.amount)) for line in inv.lines]


# --- worked examples ----------------------------------------------------------------------


def test_tier_example_600k_flagship_peak_tokens() -> None:
    rows = rows_for(600_000)
    assert sum(r.list_cost for r in rows) == D("3.6")
    assert ref.blended_factor(BOOK.tiers, 600_000) == Fraction(9, 10)
    assert ref.tier_weight(BOOK.tiers, 600_000) == 540_000
    inv = ref.invoice(BOOK, "acct", "2026-11", None, rows)
    assert inv.plan == "payg"
    assert inv.tokens == inv.billable_tokens == 600_000
    assert inv.lines == (InvoiceLine("usage", D("3.24"), 600_000),)
    assert inv.total == D("3.24")


def test_cli_invoice_json_example() -> None:
    account = Account(account_id="edu-001", plan="standard", contract_months=12, educational=True)
    rows = rows_for(2_500_000, account=account)
    inv = ref.invoice(BOOK, "edu-001", "2026-11", account, rows)
    expected = CLI_MD_INVOICE
    assert json.loads(dumps([inv])) == expected
    assert [inv.to_json()] == expected


# --- rounding -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Fraction(1, 200), "0.01"),
        (Fraction(-1, 200), "-0.01"),
        (Fraction(1, 300), "0.00"),
        (Fraction(-1, 300), "0.00"),
        (Fraction(12345, 1000), "12.35"),
        (Fraction(-12345, 1000), "-12.35"),
        (Fraction(0), "0.00"),
        (D("-0.004"), "0.00"),
        (D("2.675"), "2.68"),
    ],
)
def test_money_rounds_half_away_from_zero(value: Fraction | Decimal, expected: str) -> None:
    assert str(ref.money(value)) == expected  # the oracle's own rounding
    assert money_str(money(value)) == expected  # the production rounding


# --- tiers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tokens", "weight"),
    [
        (0, 0),
        (1, 1),
        (99_999, 99_999),
        (100_000, 100_000),
        (100_001, Fraction("100000.9")),
        (499_999, 100_000 + Fraction(9, 10) * 399_999),
        (500_000, 460_000),
        (500_001, Fraction("460000.8")),
        (999_999, 460_000 + Fraction(8, 10) * 499_999),
        (1_000_000, 860_000),
        (5_000_000, 3_660_000),
        (10_000_000, 6_660_000),
        (10_000_001, Fraction("6660000.5")),
        (20_000_000, 11_660_000),
    ],
)
def test_tier_weight_at_boundaries(tokens: int, weight: Fraction | int) -> None:
    assert ref.tier_weight(BOOK.tiers, tokens) == weight


def test_blended_factor_of_zero_is_one() -> None:
    assert ref.blended_factor(BOOK.tiers, 0) == 1
    assert ref.blended_factor(BOOK.tiers, 100_000) == 1
    assert ref.blended_factor(BOOK.tiers, 10_000_000) == Fraction(666, 1000)


def test_tier_boundary_invoices() -> None:
    # 100,000 tokens at 0.006/1k = 0.60, all in tier 1
    assert ref.invoice(BOOK, "a", "2026-11", None, rows_for(100_000)).total == D("0.60")
    # 100,001: 0.600006 × (100,000.9 / 100,001) = 0.6000054 → 0.60
    assert ref.invoice(BOOK, "a", "2026-11", None, rows_for(100_001)).total == D("0.60")
    # 1,000,000 tokens: 6.00 × 0.86 = 5.16
    assert ref.invoice(BOOK, "a", "2026-11", None, rows_for(1_000_000)).total == D("5.16")


def test_exact_halves_round_away_from_zero() -> None:
    # 7,500 flagship tokens = 0.045 exactly → 0.05 (half-even would give 0.04)
    assert lines(ref.invoice(BOOK, "a", "2026-11", None, rows_for(7_500))) == [("usage", "0.05")]
    # 75,000 tokens = 0.45; prepaid discount −0.045 exactly → −0.05
    account = Account(account_id="a", prepaid=True)
    inv = ref.invoice(BOOK, "a", "2026-11", account, rows_for(75_000, account=account))
    assert lines(inv) == [("usage", "0.45"), ("discount_prepaid", "-0.05")]
    assert inv.total == D("0.40")


def test_no_usage_payg_gives_a_zero_usage_line() -> None:
    inv = ref.invoice(BOOK, "a", "2026-11", None, [])
    assert inv.lines == (InvoiceLine("usage", D("0.00"), 0),)
    assert inv.total == D("0.00")
    assert inv.to_json()["lines"] == [{"kind": "usage", "amount": "0.00", "tokens": 0}]


def test_no_usage_plan_still_pays_the_fee_with_discounts() -> None:
    account = Account(account_id="a", plan="starter", prepaid=True)
    inv = ref.invoice(BOOK, "a", "2026-11", account, [])
    assert lines(inv) == [("plan_fee", "299.00"), ("usage", "0.00"), ("discount_prepaid", "-29.90")]
    assert inv.total == D("269.10")


# --- plans and discounts ------------------------------------------------------------------


def test_usage_within_quota_is_covered_by_the_fee() -> None:
    account = Account(account_id="a", plan="starter")
    inv = ref.invoice(BOOK, "a", "2026-11", account, rows_for(500_000, account=account))
    assert inv.billable_tokens == 0
    assert lines(inv) == [("plan_fee", "299.00"), ("usage", "0.00")]
    one_more = ref.invoice(BOOK, "a", "2026-11", account, rows_for(500_002, account=account))
    assert one_more.billable_tokens == 2
    assert one_more.lines[1] == InvoiceLine("usage", D("0.00"), 2)


def test_overage_is_priced_from_the_first_tier() -> None:
    account = Account(account_id="a", plan="starter")
    # 1,500,000 tokens: L = 9.00, overage 1,000,000 → L_over = 6.00 × M(1M) 0.86 = 5.16
    inv = ref.invoice(BOOK, "a", "2026-11", account, rows_for(1_500_000, account=account))
    assert inv.billable_tokens == 1_000_000
    assert lines(inv) == [("plan_fee", "299.00"), ("usage", "5.16")]
    assert inv.total == D("304.16")


def test_all_discounts_in_order_on_the_unrounded_running_subtotal() -> None:
    account = Account(account_id="a", plan="starter", prepaid=True, contract_months=24, educational=True)
    rows = rows_for(1_234_567, account=account)
    inv = ref.invoice(BOOK, "a", "2026-11", account, rows)
    kinds = [line.kind for line in inv.lines]
    assert kinds == [
        "plan_fee",
        "usage",
        "discount_prepaid",
        "discount_contract",
        "discount_educational",
    ]
    cost = sum((Fraction(r.list_cost) for r in rows), Fraction(0))
    usage = cost * ref.tier_weight(BOOK.tiers, 734_567) / 1_234_567
    running = 299 + usage
    expected = [money(299), money(usage)]
    for factor in (Fraction("0.9"), Fraction("0.85"), Fraction("0.8")):
        expected.append(money(running * (factor - 1)))
        running *= factor
    assert [line.amount for line in inv.lines] == expected
    assert inv.total == sum(expected)
    assert all(line.amount < 0 for line in inv.lines[2:])


def test_short_contract_gets_no_contract_discount() -> None:
    account = Account(account_id="a", plan="standard", contract_months=11)
    inv = ref.invoice(BOOK, "a", "2026-11", account, [])
    assert [line.kind for line in inv.lines] == ["plan_fee", "usage"]


def test_payg_account_with_discounts() -> None:
    account = Account(account_id="a", prepaid=True)
    inv = ref.invoice(BOOK, "a", "2026-11", account, rows_for(600_000, account=account))
    assert lines(inv) == [("usage", "3.24"), ("discount_prepaid", "-0.32")]
    assert inv.total == D("2.92")


def test_unknown_account_is_payg_without_discounts() -> None:
    inv = ref.invoice(BOOK, "ghost", "2026-11", None, rows_for(600_000))
    assert inv.plan == "payg"
    assert [line.kind for line in inv.lines] == ["usage"]


def test_custom_plan_extra_tokens_and_concurrency() -> None:
    account = Account(account_id="a", plan="standard", extra_tokens=1_000_000, extra_concurrent=2)
    terms = ref.account_terms(BOOK, account)
    assert terms.quota == 3_000_000
    assert terms.fee == 999 + 4 + 100
    inv = ref.invoice(BOOK, "a", "2026-11", account, rows_for(3_500_000, account=account))
    # L = 21.00; overage 500,000 → L_over = 3.00 × 0.92 = 2.76
    assert lines(inv) == [("plan_fee", "1103.00"), ("usage", "2.76")]
    assert inv.billable_tokens == 500_000


def test_custom_plan_fee_with_a_fraction_of_a_fen() -> None:
    account = Account(account_id="a", plan="starter", extra_tokens=1_234)
    assert ref.account_terms(BOOK, account).fee == 299 + Fraction("0.004936")
    inv = ref.invoice(BOOK, "a", "2026-11", account, [])
    assert lines(inv)[0] == ("plan_fee", "299.00")


def test_payg_ignores_custom_additions() -> None:
    account = Account(account_id="a", plan="payg", extra_tokens=1_000_000)
    inv = ref.invoice(BOOK, "a", "2026-11", account, rows_for(600_000, account=account))
    assert inv.billable_tokens == 600_000
    assert inv.total == D("3.24")


def test_mixed_prices_get_one_blended_factor() -> None:
    rows = rows_for(300_000, model="qwen-max") + rows_for(300_000, model="qwen-turbo", hour_utc=20)
    # qwen-turbo at 04:00 Shanghai: off-peak → 300k × 0.0036/1k × 0.7 = 0.756; flagship 1.80
    cost = sum(r.list_cost for r in rows)
    assert cost == D("2.556")
    inv = ref.invoice(BOOK, "a", "2026-11", None, rows)
    assert inv.total == money(Fraction(cost) * Fraction(9, 10))
    assert ref.invoice(BOOK, "a", "2026-11", None, list(reversed(rows))) == inv


# --- usage report -------------------------------------------------------------------------


def test_report_midmonth_estimate() -> None:
    account = Account(account_id="edu-001", plan="standard", contract_months=12, educational=True)
    rows = rows_for(2_500_000, account=account)
    rep = ref.usage_report(BOOK, "edu-001", "2026-11", account, rows, date(2026, 11, 15))
    assert rep.days_in_month == 30
    assert rep.days_elapsed == 15
    assert rep.average_daily == D("166666.67")
    assert rep.estimated_monthly == 5_000_000
    # the estimate: 5M tokens at 0.006/1k: overage 3M → L·W(3M)/T = 15 × 2,260,000 / 2.5M
    expected_usage = Fraction(15) * ref.tier_weight(BOOK.tiers, 3_000_000) / 2_500_000
    assert expected_usage == Fraction("13.56")
    assert rep.cost_estimate == D("688.54")
    assert rep.invoice_total_so_far == D("681.20")
    assert rep.by_model[0].key == "qwen-max"
    assert rep.by_day[0].key == "2026-11-10"
    assert rep.by_day[0].list_cost == D("15.00")


def test_report_days_elapsed_rules() -> None:
    assert ref.days_elapsed("2026-11", date(2026, 12, 3), None) == 30  # closed month
    assert ref.days_elapsed("2026-11", date(2026, 11, 1), None) == 1
    assert ref.days_elapsed("2026-11", date(2026, 10, 20), None) == 1  # not started
    assert ref.days_elapsed("2026-11", date(2026, 11, 5), date(2026, 11, 7)) == 7  # ahead tz
    assert ref.days_in_month("2028-02") == 29


def test_report_without_usage() -> None:
    account = Account(account_id="a", plan="starter")
    rep = ref.usage_report(BOOK, "a", "2026-11", account, [], date(2026, 11, 15))
    assert (rep.total_tokens, rep.estimated_monthly, rep.average_daily) == (0, 0, D("0.00"))
    assert rep.cost_estimate == D("299.00")
    assert rep.hints == ()


# --- plan recommendation ------------------------------------------------------------------


def test_recommendation_for_the_cli_example_account() -> None:
    account = Account(account_id="edu-001", plan="standard", contract_months=12, educational=True)
    rows = rows_for(2_500_000, account=account)
    rec = ref.recommend(BOOK, "edu-001", "2026-10", account, rows, D("0.2"))
    assert rec.projected_tokens == 3_000_000
    assert [o.plan for o in rec.options] == [
        "payg",
        "starter",
        "standard",
        "professional",
        "enterprise",
    ]
    by_plan = {o.plan: o for o in rec.options}
    # payg: 18.00 × W(3M)/3M = 18 × 2,260,000 / 3M = 13.56; × 0.85 × 0.8 → 9.22
    assert by_plan["payg"].usage == D("13.56")
    assert by_plan["payg"].total == D("9.22")
    assert by_plan["standard"].total == D("682.83")
    assert rec.current_plan == "standard"
    assert rec.current_cost == D("682.83")
    assert rec.recommended_plan == "payg"
    assert rec.saving == D("673.61")
    assert rec.to_json()["growth"] == "0.2"


def test_recommendation_keeps_current_plan_on_ties_and_custom_additions() -> None:
    account = Account(account_id="a", plan="starter", extra_tokens=100_000)
    rec = ref.recommend(BOOK, "a", "2026-10", account, [], D("0.2"))
    by_plan = {o.plan: o for o in rec.options}
    assert by_plan["starter"].plan_fee == D("299.40")  # the current plan keeps its additions
    assert rec.recommended_plan == "payg"
    assert rec.saving == D("299.40")
    nobody = ref.recommend(BOOK, "x", "2026-10", None, [], D("0.2"))
    assert (nobody.current_plan, nobody.recommended_plan, nobody.saving) == ("payg", "payg", 0)


def test_projection_rounds_and_never_goes_negative() -> None:
    assert ref.projected_tokens(5, D("0.1")) == 6  # 5.5 → 6
    assert ref.projected_tokens(4, D("0.1")) == 4  # 4.4 → 4
    assert ref.projected_tokens(100, D("-1.5")) == 0


# --- cost hints ---------------------------------------------------------------------------


def test_cost_hints() -> None:
    rows = (
        rows_for(1_000_000, feature="code_completion")  # peak flagship us-west: 6.00
        + rows_for(1_000_000, model="qwen-plus", region="eu-central", hour_utc=20)  # off-peak
        + rows_for(500_000, model="qwen-turbo", region="ap-southeast")  # peak, cheapest region
    )
    hints = {h.hint: h for h in ref.cost_hints(BOOK, rows)}
    # off-peak: peak list cost 6.00 + 500k × 0.0036/1k × 0.8 = 1.44 → 7.44 × 0.3 × 0.3
    assert hints["off_peak"].tokens_affected == 450_000
    assert hints["off_peak"].saving == D("0.67")
    # light model: 6.00 × (1 − 0.6)
    assert (hints["light_model"].tokens_affected, hints["light_model"].saving) == (1_000_000, D("2.40"))
    # region: 6.00 × 0.2 + (1M × 0.0048/1k × 0.9 × 0.7 = 3.024) × 0.1 / 0.9
    assert hints["region"].tokens_affected == 2_000_000
    assert hints["region"].saving == money(Fraction("1.2") + Fraction("3.024") / 9)
    assert [h.hint for h in ref.cost_hints(BOOK, rows)] == ["off_peak", "light_model", "region"]


def test_no_hints_for_cheapest_everything() -> None:
    rows = rows_for(1000, model="qwen-turbo", region="ap-southeast", hour_utc=20)
    assert ref.cost_hints(BOOK, rows) == ()


def test_html_report_is_self_contained_and_escaped() -> None:
    from usageflow.billing.html_report import render_html

    account = Account(account_id="edu-001", plan="standard")
    rows = rows_for(2_500_000, account=account, feature="<f&1>")
    rep = ref.usage_report(BOOK, "edu-001", "2026-11", account, rows, date(2026, 11, 15))
    page = render_html([rep.to_json()], "2026-11", generated_at=datetime(2026, 11, 15, tzinfo=UTC))
    assert page.startswith("<!doctype html>")
    assert "&lt;f&amp;1&gt;" in page and "<f&1>" not in page
    assert "2,500,000" in page and "edu-001" in page
    assert "<script" not in page and "http" not in page
