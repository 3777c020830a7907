"""The production pricing code (usageflow.pricing: terms, tiers, lines, money) against the
independent oracle of tests/oracle/billing.py, to the fen, and its own edge cases."""

from __future__ import annotations

import ast
from decimal import Context, Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.oracle import billing as ref
from usageflow.alerting.rules import BudgetEstimator, account_limits
from usageflow.pricing.lines import exact_lines, invoice_total, rounded_lines
from usageflow.pricing.money import decimal_or_cents, finite_decimal, money, round_half_up
from usageflow.pricing.price_book import Discounts, PriceBook, Tier
from usageflow.pricing.terms import account_terms, daily_token_limit, plan_allowance
from usageflow.pricing.tiers import TierSchedule, tier_schedule
from usageflow.schemas import Account

pytestmark = pytest.mark.unit

BOOK = PriceBook()
CTX60 = Context(prec=60)

tokens_st = st.integers(min_value=0, max_value=80_000_000)
multiplier_st = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("2"), places=3)


@st.composite
def tier_tuples(draw: st.DrawFn) -> tuple[Tier, ...]:
    """Tiers starting at 0 with strictly increasing starts and any decimal multipliers."""
    starts = sorted(draw(st.sets(st.integers(min_value=1, max_value=20_000_000), max_size=7)))
    return tuple(Tier(start=s, multiplier=draw(multiplier_st)) for s in [0, *starts])


@st.composite
def books(draw: st.DrawFn) -> PriceBook:
    discounts = Discounts(
        prepaid=draw(st.decimals(min_value=Decimal("0.5"), max_value=1, places=2)),
        contract=draw(st.decimals(min_value=Decimal("0.5"), max_value=1, places=3)),
        contract_min_months=draw(st.sampled_from([6, 12, 24])),
        educational=draw(st.decimals(min_value=Decimal("0.5"), max_value=1, places=2)),
    )
    plans = {name: plan for name, plan in BOOK.plans.items() if draw(st.integers(0, 4))}  # some missing
    return PriceBook(tiers=draw(tier_tuples()), discounts=discounts, plans=plans)


accounts_st = st.one_of(
    st.none(),
    st.builds(
        Account,
        account_id=st.just("a"),
        plan=st.sampled_from(["payg", "starter", "standard", "professional", "enterprise"]),
        extra_tokens=st.sampled_from([0, 0, 250_000, 1_234_567]),
        extra_concurrent=st.sampled_from([0, 0, 3]),
        prepaid=st.booleans(),
        contract_months=st.sampled_from([0, 6, 12, 36]),
        educational=st.booleans(),
    ),
)
# list cost per token: a flagship price of 0.006 / 1,000 under any region / off-peak / model mix
per_token_st = st.decimals(min_value=0, max_value=Decimal("0.000012"), places=12)


# --- the oracle stays independent ---------------------------------------------------------


def test_the_oracle_does_not_import_the_code_it_checks() -> None:
    tree = ast.parse(Path(ref.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    checked = {"usageflow.pricing.tiers", "usageflow.pricing.terms", "usageflow.pricing.lines"}
    checked |= {"usageflow.pricing.money", "usageflow.alerting.rules", "usageflow.billing.queries"}
    assert imported, "no imports found: the check would pass vacuously"
    assert not imported & checked


# --- tiers --------------------------------------------------------------------------------


@given(tier_tuples(), tokens_st)
def test_tier_weight_equals_the_oracle_for_any_tiers(tiers: tuple[Tier, ...], tokens: int) -> None:
    schedule = TierSchedule(tiers)
    want = ref.tier_weight(tiers, tokens)
    assert schedule.weight(tokens) == want
    assert schedule.weight_in(CTX60, tokens) == want  # exact in 60 digits
    assert schedule.blended_factor(tokens) == ref.blended_factor(tiers, tokens)


@given(tier_tuples(), tokens_st)
def test_tier_weight_does_not_depend_on_the_order_tiers_are_given(tiers: tuple[Tier, ...], tokens: int) -> None:
    assert TierSchedule(tiers[::-1]).weight(tokens) == TierSchedule(tiers).weight(tokens)


@pytest.mark.parametrize(
    ("tokens", "weight", "tier"),
    [
        (-5, 0, 1),
        (0, 0, 1),
        (1, 1, 1),
        (99_999, 99_999, 1),
        (100_000, 100_000, 2),
        (100_001, Fraction("100000.9"), 2),
        (500_000, 460_000, 3),
        (10_000_000, 6_660_000, 6),
        (10_000_001, Fraction("6660000.5"), 6),
    ],
)
def test_tier_boundaries(tokens: int, weight: Fraction | int, tier: int) -> None:
    schedule = tier_schedule(BOOK.tiers)
    assert schedule.weight(tokens) == weight
    assert schedule.weight_in(CTX60, tokens) == weight
    assert schedule.tier_number(tokens) == tier


def test_blended_factor_examples() -> None:
    schedule = tier_schedule(BOOK.tiers)
    assert schedule.blended_factor(0) == 1
    assert schedule.blended_factor(600_000) == Fraction(9, 10)  # 540,000 / 600,000
    assert schedule.blended_factor(10_000_000) == Fraction(666, 1000)
    assert schedule.max_multiplier == Decimal("1.0")


def test_tier_schedule_is_built_once_per_book_tiers() -> None:
    assert tier_schedule(BOOK.tiers) is tier_schedule(PriceBook().tiers)


# --- terms --------------------------------------------------------------------------------


@given(books(), accounts_st)
def test_terms_equal_the_oracle(book: PriceBook, account: Account | None) -> None:
    got, want = account_terms(book, account), ref.account_terms(book, account)
    fields = (
        "plan",
        "is_payg",
        "quota",
        "fee",
        "extra_tokens",
        "prepaid",
        "contract",
        "educational",
        "prepaid_factor",
        "contract_factor",
        "educational_factor",
    )
    assert {f: getattr(got, f) for f in fields} == {f: getattr(want, f) for f in fields}
    assert got.discount_factor == want.prepaid_factor * want.contract_factor * want.educational_factor


@given(accounts_st)
def test_plan_allowance_is_the_terms_quota_and_the_alert_limits(account: Account | None) -> None:
    terms = account_terms(BOOK, account)
    allowance = plan_allowance(BOOK, account)
    limits = account_limits(account, BOOK)
    if terms.is_payg:
        assert allowance is None
        assert (limits.monthly_tokens, limits.max_concurrent) == (None, None)
        return
    assert account is not None and allowance is not None
    plan = BOOK.plans[account.plan]
    assert allowance.monthly_tokens == terms.quota == plan.monthly_tokens + account.extra_tokens
    assert allowance.max_concurrent == terms.max_concurrent == plan.max_concurrent + account.extra_concurrent
    assert (limits.plan, limits.monthly_tokens, limits.max_concurrent) == tuple(allowance)


def test_daily_token_limit_is_exact_monthly_over_30() -> None:
    assert daily_token_limit(2_000_000) == Fraction(200_000, 3)
    assert daily_token_limit(3_000_000) == 100_000
    assert account_limits(Account(account_id="a", plan="standard"), BOOK).limit("daily_usage") == Fraction(200_000, 3)


# --- lines --------------------------------------------------------------------------------


@settings(max_examples=300)
@given(books(), accounts_st, tokens_st, per_token_st, tokens_st)
def test_lines_equal_the_oracle_to_the_fen(
    book: PriceBook, account: Account | None, tokens: int, per_token: Decimal, priced: int
) -> None:
    cost = Fraction(per_token) * tokens
    tiers = tier_schedule(book.tiers)
    terms, want_terms = account_terms(book, account), ref.account_terms(book, account)
    want_billable, want_lines, want_total = ref.rounded_lines(book, want_terms, tokens, cost, priced)
    billable, lines, total = rounded_lines(tiers, terms, tokens, cost, priced)
    assert billable == want_billable
    assert [(line.kind, line.amount, line.tokens) for line in lines] == [
        (line.kind, line.amount, line.tokens) for line in want_lines
    ]
    assert total == want_total
    exact = exact_lines(tiers, terms, tokens, cost, priced)
    assert exact == ref.exact_lines(book, want_terms, tokens, cost, priced)


@given(accounts_st, tokens_st, per_token_st)
def test_alert_budget_estimate_is_the_oracle_invoice_total(
    account: Account | None, tokens: int, per_token: Decimal
) -> None:
    cost = per_token * tokens
    want = ref.invoice(BOOK, "a", "2026-11", account, [ref.UsageRow(tokens=tokens, list_cost=cost)]).total
    assert BudgetEstimator(BOOK, account)(tokens, cost) == want
    assert invoice_total(tier_schedule(BOOK.tiers), account_terms(BOOK, account), tokens, Fraction(cost)) == want


def test_standard_plan_with_discounts_example() -> None:
    # 2.6M tokens, L = 15.6: overage 600,000, W = 540,000, usage = 15.6 × 540,000 / 2,600,000 = 3.24;
    # contract −(999 + 3.24) × 0.15 = −150.336; educational −851.904 × 0.2 = −170.3808
    account = Account(account_id="a", plan="standard", contract_months=12, educational=True)
    billable, lines, total = rounded_lines(
        tier_schedule(BOOK.tiers), account_terms(BOOK, account), 2_600_000, Fraction("15.6"), 2_600_000
    )
    assert billable == 600_000
    assert [(line.kind, str(line.amount)) for line in lines] == [
        ("plan_fee", "999.00"),
        ("usage", "3.24"),
        ("discount_contract", "-150.34"),
        ("discount_educational", "-170.38"),
    ]
    assert str(total) == "681.52"


# --- money --------------------------------------------------------------------------------


@given(st.fractions(max_denominator=10**6).filter(lambda f: abs(f) < 10**12))
def test_money_equals_the_oracle_rounding(value: Fraction) -> None:
    assert money(value) == ref.money(value)
    assert str(money(value)) == str(ref.money(value))  # two places, never "-0.00"


@given(st.fractions(min_value=0, max_value=10**9, max_denominator=10**4))
def test_round_half_up_equals_the_oracle(value: Fraction) -> None:
    assert round_half_up(value) == ref.round_half_up(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Fraction(200_000, 3), "66666.67"),
        (Fraction(2_000_000), "2000000"),
        (Fraction(1, 8), "0.125"),
        (Fraction(-1, 8), "-0.125"),
        (Fraction(1, 3), "0.33"),
        (Fraction(-2, 3), "-0.67"),
    ],
)
def test_decimal_or_cents(value: Fraction, expected: str) -> None:
    assert str(decimal_or_cents(value)) == expected


@given(st.fractions(max_denominator=3000))
def test_finite_decimal_is_exact_or_none(value: Fraction) -> None:
    exact = finite_decimal(value)
    den = value.denominator
    while den % 2 == 0:
        den //= 2
    while den % 5 == 0:
        den //= 5
    if den == 1:
        assert exact is not None and Fraction(exact) == value
    else:
        assert exact is None
