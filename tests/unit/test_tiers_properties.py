"""Properties of the graduated tiers and invoices of the billing oracle (hypothesis)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.oracle import billing as ref
from usageflow.alerting.rules import make_alert
from usageflow.pricing.money import decimal_floor, money
from usageflow.pricing.price_book import PriceBook
from usageflow.schemas import Account

pytestmark = pytest.mark.unit

BOOK = PriceBook()
MIN_MULT = min(Fraction(t.multiplier) for t in BOOK.tiers)
PRICES = [
    Decimal("0.006"),
    Decimal("0.0048"),
    Decimal("0.0036"),
    Decimal("0.00432"),  # 0.0048 × 0.9
    Decimal("0.00252"),  # 0.0036 × 0.7
    Decimal("0.002016"),  # 0.0036 × 0.8 × 0.7
]

tokens_st = st.integers(min_value=0, max_value=30_000_000)


@st.composite
def usage_rows(draw: st.DrawFn, max_rows: int = 8) -> list[ref.UsageRow]:
    rows = []
    for _ in range(draw(st.integers(min_value=0, max_value=max_rows))):
        tokens = draw(st.integers(min_value=0, max_value=4_000_000))
        price = draw(st.sampled_from(PRICES))
        rows.append(
            ref.UsageRow(
                tokens=tokens,
                list_cost=tokens * price / 1000,
                model=draw(st.sampled_from(["qwen-max", "qwen-plus", "qwen-turbo"])),
                region=draw(st.sampled_from(["", "us-west", "eu-central", "ap-southeast"])),
                feature=draw(st.sampled_from(["", "code_completion", "explanation"])),
                off_peak=draw(st.booleans()),
                day=date(2026, 11, draw(st.integers(min_value=1, max_value=30))),
                api_key_id=draw(st.sampled_from(["k1", "k2"])),
            )
        )
    return rows


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


@given(tokens_st)
def test_weight_bounds(tokens: int) -> None:
    weight = ref.tier_weight(BOOK.tiers, tokens)
    assert tokens * MIN_MULT <= weight <= tokens


@given(tokens_st, st.integers(min_value=0, max_value=5_000_000))
def test_weight_is_monotone_and_additive(a: int, b: int) -> None:
    wa = ref.tier_weight(BOOK.tiers, a)
    wab = ref.tier_weight(BOOK.tiers, a + b)
    assert wab >= wa
    # the extra b tokens are priced at the multipliers of a's tier or later (cheaper) tiers
    tier_of_a = max((t for t in BOOK.tiers if t.start <= a), key=lambda t: t.start)
    assert b * MIN_MULT <= wab - wa <= b * Fraction(tier_of_a.multiplier)


@given(tokens_st, st.sampled_from(PRICES))
def test_one_price_equals_tier_by_tier_sum(tokens: int, price: Decimal) -> None:
    """With one price per token, L × M(T) is the document's tier-by-tier sum exactly."""
    per_token = Fraction(price) / 1000
    by_tier = Fraction(0)
    starts = [t.start for t in BOOK.tiers] + [None]
    for tier, end in zip(BOOK.tiers, starts[1:], strict=True):
        inside = max(0, (tokens if end is None else min(tokens, end)) - tier.start)
        by_tier += inside * per_token * Fraction(tier.multiplier)
    assert tokens * per_token * ref.blended_factor(BOOK.tiers, tokens) == by_tier


@given(usage_rows())
def test_payg_usage_between_min_multiplier_and_list_cost(rows: list[ref.UsageRow]) -> None:
    tokens = sum(r.tokens for r in rows)
    cost = sum((Fraction(r.list_cost) for r in rows), Fraction(0))
    _, exact = ref.exact_lines(BOOK, ref.account_terms(BOOK, None), tokens, cost, tokens)
    (kind, usage, billable) = exact[0]
    assert (kind, billable) == ("usage", tokens)
    assert cost * MIN_MULT <= usage <= cost


@given(st.sampled_from(PRICES), tokens_st, tokens_st, accounts_st)
def test_usage_is_monotone_in_tokens(price: Decimal, t1: int, t2: int, account: Account | None) -> None:
    lo, hi = sorted((t1, t2))
    terms = ref.account_terms(BOOK, account)

    def usage(t: int) -> Fraction:
        cost = Fraction(price) * t / 1000
        return dict((k, a) for k, a, _ in ref.exact_lines(BOOK, terms, t, cost, t)[1])["usage"]

    assert usage(lo) <= usage(hi)


@given(usage_rows(), accounts_st, st.randoms(use_true_random=False))
def test_invoice_does_not_depend_on_order(
    rows: list[ref.UsageRow], account: Account | None, rnd: random.Random
) -> None:
    inv = ref.invoice(BOOK, "a", "2026-11", account, rows)
    shuffled = rows[:]
    rnd.shuffle(shuffled)
    assert ref.invoice(BOOK, "a", "2026-11", account, shuffled) == inv
    assert inv.total == sum(line.amount for line in inv.lines)
    assert all(line.amount <= 0 for line in inv.lines if line.kind.startswith("discount_"))


def _decimal_invoice(rows: list[ref.UsageRow], account: Account | None) -> list[Decimal]:
    """The same rules with Decimal at 80 digits, rounded with ROUND_HALF_UP at the end."""
    with localcontext() as ctx:
        ctx.prec = 80
        terms = ref.account_terms(BOOK, account)
        tokens = sum(r.tokens for r in rows)
        cost = sum((r.list_cost for r in rows), Decimal(0))
        billable = tokens if terms.is_payg else max(tokens - terms.quota, 0)
        weight = Decimal(0)
        starts = [t.start for t in BOOK.tiers] + [None]
        for tier, end in zip(BOOK.tiers, starts[1:], strict=True):
            inside = max(0, (billable if end is None else min(billable, end)) - tier.start)
            weight += inside * tier.multiplier
        fee = Decimal(terms.fee.numerator) / Decimal(terms.fee.denominator)
        # exact numerators over tokens, one division each (as the SQL views do)
        denominator = max(tokens, 1)
        usage_num = cost * weight
        subtotal_num = fee * denominator + usage_num
        out = []
        if not terms.is_payg:
            out.append(fee)
        out.append(usage_num / denominator)
        running = Decimal(1)
        for applies, factor in (
            (terms.prepaid, terms.prepaid_factor),
            (terms.contract, terms.contract_factor),
            (terms.educational, terms.educational_factor),
        ):
            if applies:
                f = Decimal(factor.numerator) / Decimal(factor.denominator)
                out.append(subtotal_num * running * (f - 1) / denominator)
                running *= f
        return [x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) for x in out]


@settings(max_examples=300)
@given(usage_rows(), accounts_st)
def test_fraction_and_decimal_agree(rows: list[ref.UsageRow], account: Account | None) -> None:
    inv = ref.invoice(BOOK, "a", "2026-11", account, rows)
    assert [line.amount for line in inv.lines] == [money(x) for x in _decimal_invoice(rows, account)]


@given(usage_rows(), accounts_st, st.decimals(min_value=-1, max_value=3, places=2))
def test_recommendation_is_the_cheapest_option(
    rows: list[ref.UsageRow], account: Account | None, growth: Decimal
) -> None:
    rec = ref.recommend(BOOK, "a", "2026-10", account, rows, growth)
    assert rec.recommended_cost == min(o.total for o in rec.options)
    assert rec.saving == rec.current_cost - rec.recommended_cost >= 0
    assert sum(o.is_current for o in rec.options) == 1


@given(usage_rows(), accounts_st)
def test_report_estimate_of_a_closed_month_is_its_invoice(rows: list[ref.UsageRow], account: Account | None) -> None:
    rep = ref.usage_report(BOOK, "a", "2026-11", account, rows, date(2026, 12, 5))
    assert rep.days_elapsed == 30
    assert rep.estimated_monthly == rep.total_tokens
    assert rep.cost_estimate == rep.invoice_total_so_far
    assert rep.cost_estimate == ref.invoice(BOOK, "a", "2026-11", account, rows).total


@settings(max_examples=400, deadline=None)
@given(st.integers(-(10**30), 10**30), st.integers(1, 10**30))
def test_a_ratio_rounds_to_the_fen_half_away_from_zero(numerator: int, denominator: int) -> None:
    # oracle: the exact quotient in Decimal with enough digits never to round before the fen
    with localcontext() as ctx:
        ctx.prec = 120
        exact = Decimal(numerator) / Decimal(denominator)
        expected = exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    got = money(Fraction(numerator, denominator))
    assert got == expected and got.as_tuple().exponent == -2
    assert str(got) != "-0.00"


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(st.integers(0, 10**15), st.decimals(0, 10**9, places=2)),
    st.fractions(min_value=Fraction(1, 10**6), max_value=10**12),
)
def test_an_alert_percentage_is_value_over_limit_rounded_once(value: int | Decimal, limit: Fraction) -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    alert = make_alert(
        account_id="acct",
        rule_type="budget",
        period="2026-12",
        level=Decimal("0.5"),
        value=value,
        limit=limit,
        triggered_at=at,
        emitted_at=at,
        plan="payg",
    )
    with localcontext() as ctx:
        ctx.prec = 120
        exact = Decimal(value) * 100 * limit.denominator / limit.numerator
        assert alert.percentage == exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@settings(max_examples=300, deadline=None)
@given(
    numerator=st.integers(-(10**40), 10**40),
    denominator=st.integers(1, 10**15),
    places=st.integers(0, 20),
)
def test_decimal_floor_is_the_largest_decimal_at_or_below(numerator: int, denominator: int, places: int) -> None:
    value = Fraction(numerator, denominator)
    floored = decimal_floor(value, places)
    step = Fraction(1, 10**places)
    assert floored.as_tuple().exponent == -places
    assert Fraction(floored) <= value < Fraction(floored) + step
