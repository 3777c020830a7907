"""The tests' billing oracle: tiers, plans, discounts, invoices, usage reports, plan
recommendations and cost hints in plain Python with exact rationals, no infrastructure.

The SQL views (sql/01xx_*.sql) and the production pricing code (usageflow.pricing) implement
the same rules; the tests compare each of them with this module to the fen. It is written
independently of both on purpose: it imports from the package only the input types (price
book, rated event, account) and the result records, and does its own tier walk, terms and
rounding. Every line is computed as an exact `Fraction` and rounded once, half away from zero.

Input is the account-month's rated usage as `UsageRow`s (already deduplicated by event id),
the `PriceBook` and the `Account` (None: unknown account, billed payg with no discounts).
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from usageflow.billing.model import (
    BreakdownRow,
    CostHint,
    Invoice,
    InvoiceLine,
    PlanQuote,
    Recommendation,
    UsageReport,
)
from usageflow.pricing.price_book import PriceBook, Tier
from usageflow.pricing.rating import RatedEvent
from usageflow.schemas import Account

ONE = Fraction(1)
ZERO = Fraction(0)


def money(value: Fraction | Decimal) -> Decimal:
    """To the fen, halves away from zero, "0.00" for zero (the oracle's own rounding)."""
    exact = Fraction(value)
    cents = int(abs(exact) * 100 + Fraction(1, 2))  # int() floors a non-negative rational
    if exact < 0:
        cents = -cents
    return Decimal(cents).scaleb(-2) if cents else Decimal("0.00")


def round_half_up(value: Fraction) -> int:
    """A non-negative rational to the nearest integer, halves up."""
    return int(value + Fraction(1, 2))


@dataclass(frozen=True, slots=True)
class UsageRow:
    """Rated usage of one event (or of a group of events with the same attributes)."""

    tokens: int
    list_cost: Decimal
    model: str = "qwen-max"
    region: str = ""  # "" = sent without a region
    feature: str = ""
    off_peak: bool = False
    day: date | None = None
    api_key_id: str = ""
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0


def usage_row(rated: RatedEvent) -> UsageRow:
    """The oracle's view of an event as the stream rated it."""
    e = rated.event
    return UsageRow(
        tokens=e.input_tokens + e.output_tokens,
        list_cost=rated.list_cost,
        model=e.model,
        region=e.region or "",
        feature=e.feature or "",
        off_peak=rated.off_peak_multiplier != 1,
        day=rated.billing_date,
        api_key_id=e.api_key_id,
        cached_input_tokens=e.cached_input_tokens,
        cache_write_tokens=e.cache_write_tokens,
        reasoning_tokens=e.reasoning_tokens,
    )


# --- graduated tiers ----------------------------------------------------------------------


def tier_weight(tiers: Sequence[Tier], tokens: int) -> Fraction:
    """W(x) = Σ over tiers of (tokens of [0, x) in the tier) × multiplier."""
    weight = ZERO
    ordered = sorted(tiers, key=lambda t: t.start)
    for index, tier in enumerate(ordered):
        end = ordered[index + 1].start if index + 1 < len(ordered) else None
        if tokens <= tier.start:
            break
        upper = tokens if end is None else min(tokens, end)
        weight += (upper - tier.start) * Fraction(tier.multiplier)
    return weight


def blended_factor(tiers: Sequence[Tier], tokens: int) -> Fraction:
    """M(T) = W(T) / T, M(0) = 1."""
    if tokens == 0:
        return ONE
    return tier_weight(tiers, tokens) / tokens


# --- plans and discounts ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Terms:
    """What an account pays under: plan fee and quota (custom additions included), and the
    discount factors that apply (1 where one does not)."""

    plan: str
    is_payg: bool
    quota: int
    fee: Fraction
    extra_tokens: int = 0
    prepaid: bool = False
    contract: bool = False
    educational: bool = False
    prepaid_factor: Fraction = ONE
    contract_factor: Fraction = ONE
    educational_factor: Fraction = ONE


def account_terms(book: PriceBook, account: Account | None) -> Terms:
    if account is None:
        return Terms(plan="payg", is_payg=True, quota=0, fee=ZERO)
    d = book.discounts
    prepaid = account.prepaid
    contract = account.contract_months >= d.contract_min_months
    educational = account.educational
    discounts = {
        "prepaid": prepaid,
        "contract": contract,
        "educational": educational,
        "prepaid_factor": Fraction(d.prepaid) if prepaid else ONE,
        "contract_factor": Fraction(d.contract) if contract else ONE,
        "educational_factor": Fraction(d.educational) if educational else ONE,
    }
    plan = book.plans.get(account.plan)
    if plan is None:  # payg, or a plan the price book does not have
        return Terms(plan="payg", is_payg=True, quota=0, fee=ZERO, **discounts)  # type: ignore[arg-type]
    rates = book.custom_plan
    fee = (
        Fraction(plan.monthly_fee)
        + Fraction(account.extra_tokens) / 1000 * Fraction(rates.extra_tokens_per_1k)
        + account.extra_concurrent * Fraction(rates.extra_concurrent_each)
    )
    return Terms(
        plan=account.plan,
        is_payg=False,
        quota=plan.monthly_tokens + account.extra_tokens,
        fee=fee,
        extra_tokens=account.extra_tokens,
        **discounts,  # type: ignore[arg-type]
    )


def option_terms(book: PriceBook, current: Terms, plan_name: str) -> Terms:
    """Terms of `plan_name` for a plan comparison: the current plan keeps its custom
    additions, other plans are priced as listed; the account's discounts stay."""
    base = {
        "prepaid": current.prepaid,
        "contract": current.contract,
        "educational": current.educational,
        "prepaid_factor": current.prepaid_factor,
        "contract_factor": current.contract_factor,
        "educational_factor": current.educational_factor,
    }
    if plan_name == current.plan:
        return current
    if plan_name == "payg":
        return Terms(plan="payg", is_payg=True, quota=0, fee=ZERO, **base)  # type: ignore[arg-type]
    plan = book.plans[plan_name]
    return Terms(
        plan=plan_name,
        is_payg=False,
        quota=plan.monthly_tokens,
        fee=Fraction(plan.monthly_fee),
        **base,  # type: ignore[arg-type]
    )


# --- invoice lines ------------------------------------------------------------------------


def exact_lines(
    book: PriceBook, terms: Terms, total_tokens: int, list_cost: Fraction, priced_tokens: int
) -> tuple[int, list[tuple[str, Fraction, int | None]]]:
    """Billable tokens and the unrounded lines when `priced_tokens` are billed at the blended
    list price list_cost / total_tokens of the month (priced_tokens = total_tokens for an
    invoice; an estimate or projection otherwise)."""
    billable = priced_tokens if terms.is_payg else max(priced_tokens - terms.quota, 0)
    usage = list_cost * tier_weight(book.tiers, billable) / total_tokens if total_tokens else ZERO
    lines: list[tuple[str, Fraction, int | None]] = []
    if not terms.is_payg:
        lines.append(("plan_fee", terms.fee, None))
    lines.append(("usage", usage, billable))
    running = terms.fee + usage
    for applies, kind, factor in (
        (terms.prepaid, "discount_prepaid", terms.prepaid_factor),
        (terms.contract, "discount_contract", terms.contract_factor),
        (terms.educational, "discount_educational", terms.educational_factor),
    ):
        if applies:
            lines.append((kind, running * (factor - 1), None))
            running *= factor
    return billable, lines


def rounded_lines(
    book: PriceBook, terms: Terms, total_tokens: int, list_cost: Fraction, priced_tokens: int
) -> tuple[int, tuple[InvoiceLine, ...], Decimal]:
    """Billable tokens, lines rounded to 0.01 half away from zero, and their sum."""
    billable, exact = exact_lines(book, terms, total_tokens, list_cost, priced_tokens)
    lines = tuple(InvoiceLine(kind, money(amount), tokens) for kind, amount, tokens in exact)
    total = money(sum((line.amount for line in lines), Decimal(0)))
    return billable, lines, total


def _totals(rows: Iterable[UsageRow]) -> tuple[int, Fraction]:
    tokens = 0
    cost = ZERO
    for row in rows:
        tokens += row.tokens
        cost += Fraction(row.list_cost)
    return tokens, cost


def invoice(
    book: PriceBook,
    account_id: str,
    month: str,
    account: Account | None,
    rows: Sequence[UsageRow],
) -> Invoice:
    """The invoice of one account and month: plan fee, usage, discounts, total."""
    terms = account_terms(book, account)
    tokens, cost = _totals(rows)
    billable, lines, total = rounded_lines(book, terms, tokens, cost, tokens)
    return Invoice(
        account_id=account_id,
        month=month,
        plan=terms.plan,
        tokens=tokens,
        billable_tokens=billable,
        lines=lines,
        total=total,
        currency=book.currency,
    )


# --- usage report -------------------------------------------------------------------------


def days_in_month(month: str) -> int:
    year, mon = (int(p) for p in month.split("-"))
    return calendar.monthrange(year, mon)[1]


def days_elapsed(month: str, as_of: date, last_usage: date | None) -> int:
    """Days from the 1st through `as_of` (at least through the last day with usage), clamped
    to [1, days in month]: a month that is over counts all its days."""
    year, mon = (int(p) for p in month.split("-"))
    start = date(year, mon, 1)
    elapsed = (as_of - start).days + 1
    if last_usage is not None:
        elapsed = max(elapsed, (last_usage - start).days + 1)
    return min(days_in_month(month), max(1, elapsed))


def _breakdown(rows: Sequence[UsageRow], key: Callable[[UsageRow], str]) -> tuple[BreakdownRow, ...]:
    tokens: dict[str, int] = defaultdict(int)
    cost: dict[str, Fraction] = defaultdict(Fraction)
    parts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        tokens[key(row)] += row.tokens
        cost[key(row)] += Fraction(row.list_cost)
        for i, n in enumerate((row.cached_input_tokens, row.cache_write_tokens, row.reasoning_tokens)):
            parts[key(row)][i] += n
    return tuple(BreakdownRow(k, tokens[k], money(cost[k]), *parts[k]) for k in sorted(tokens))


def usage_report(
    book: PriceBook,
    account_id: str,
    month: str,
    account: Account | None,
    rows: Sequence[UsageRow],
    as_of: date,
) -> UsageReport:
    """The usage report of one account and month as of the local date `as_of`."""
    terms = account_terms(book, account)
    tokens, cost = _totals(rows)
    days = days_in_month(month)
    last = max((r.day for r in rows if r.day is not None), default=None)
    elapsed = days_elapsed(month, as_of, last)
    estimated = round_half_up(Fraction(tokens * days, elapsed))
    _, _, so_far = rounded_lines(book, terms, tokens, cost, tokens)
    _, _, estimate = rounded_lines(book, terms, tokens, cost, estimated)
    return UsageReport(
        account_id=account_id,
        month=month,
        plan=terms.plan,
        as_of=as_of,
        days_in_month=days,
        days_elapsed=elapsed,
        total_tokens=tokens,
        list_cost=money(cost),
        average_daily=money(Fraction(tokens, elapsed)),
        estimated_monthly=estimated,
        cost_estimate=estimate,
        invoice_total_so_far=so_far,
        quota=None if terms.is_payg else terms.quota,
        by_api_key=_breakdown(rows, lambda r: r.api_key_id),
        by_model=_breakdown(rows, lambda r: r.model),
        by_region=_breakdown(rows, lambda r: r.region),
        by_feature=_breakdown(rows, lambda r: r.feature),
        by_day=_breakdown(rows, lambda r: r.day.isoformat() if r.day else ""),
        hints=cost_hints(book, rows),
        currency=book.currency,
    )


# --- plan recommendation ------------------------------------------------------------------


def projected_tokens(tokens: int, growth: Decimal) -> int:
    value = tokens * (1 + Fraction(growth))
    return 0 if value <= 0 else round_half_up(value)


def plan_names(book: PriceBook) -> list[str]:
    """payg first, then the plans from the smallest quota up."""
    plans = sorted(book.plans.items(), key=lambda kv: (kv[1].monthly_tokens, kv[0]))
    return ["payg", *(name for name, _ in plans)]


def recommend(
    book: PriceBook,
    account_id: str,
    month: str,
    account: Account | None,
    rows: Sequence[UsageRow],
    growth: Decimal = Decimal("0.2"),
) -> Recommendation:
    """Price next month's projected tokens under payg and every plan, recommend the cheapest."""
    current = account_terms(book, account)
    tokens, cost = _totals(rows)
    projected = projected_tokens(tokens, growth)
    quotes: list[PlanQuote] = []
    keys: dict[str, tuple[Decimal, int, int, int, str]] = {}
    for name in plan_names(book):
        terms = option_terms(book, current, name)
        billable, lines, total = rounded_lines(book, terms, tokens, cost, projected)
        amounts = {line.kind: line.amount for line in lines}
        is_current = name == current.plan
        quotes.append(
            PlanQuote(
                plan=name,
                is_current=is_current,
                billable_tokens=billable,
                plan_fee=amounts.get("plan_fee", Decimal("0.00")),
                usage=amounts["usage"],
                total=total,
            )
        )
        monthly = 0 if name == "payg" else book.plans[name].monthly_tokens
        keys[name] = (total, 0 if is_current else 1, 0 if name == "payg" else 1, monthly, name)
    best = min(quotes, key=lambda q: keys[q.plan])
    now = next(q for q in quotes if q.is_current)
    return Recommendation(
        account_id=account_id,
        month=month,
        growth=growth,
        base_tokens=tokens,
        projected_tokens=projected,
        current_plan=now.plan,
        current_cost=now.total,
        recommended_plan=best.plan,
        recommended_cost=best.total,
        saving=money(now.total - best.total),
        options=tuple(quotes),
        currency=book.currency,
    )


# --- cost hints ---------------------------------------------------------------------------


def cost_hints(book: PriceBook, rows: Sequence[UsageRow]) -> tuple[CostHint, ...]:
    """Off-peak shift, light model and cheapest region savings at list price."""
    hints: list[CostHint] = []
    peak = [r for r in rows if not r.off_peak]
    peak_tokens = sum(r.tokens for r in peak)
    if peak_tokens:
        share = Fraction(book.hints.off_peak_shiftable_share)
        cost = sum((Fraction(r.list_cost) for r in peak), ZERO)
        saving = cost * (1 - Fraction(book.off_peak.multiplier)) * share
        hints.append(CostHint("off_peak", round_half_up(peak_tokens * share), money(saving)))

    light = book.models.get(book.hints.light_model)
    if light is not None:
        eligible = [
            r
            for r in rows
            if r.model in book.models
            and book.models[r.model].flagship
            and r.model != book.hints.light_model
            and r.feature in book.hints.light_eligible_features
        ]
        light_tokens = sum(r.tokens for r in eligible)
        if light_tokens:
            saving = ZERO
            for r in eligible:
                flag = Fraction(book.models[r.model].multiplier)
                saving += Fraction(r.list_cost) * (flag - Fraction(light.multiplier)) / flag
            hints.append(CostHint("light_model", light_tokens, money(saving)))

    if book.regions:
        cheapest = min(Fraction(m) for m in book.regions.values())
        region_tokens = 0
        saving = ZERO
        for r in rows:
            mult = Fraction(book.region_multiplier(r.region or None))
            if mult > cheapest:
                region_tokens += r.tokens
                saving += Fraction(r.list_cost) * (mult - cheapest) / mult
        if region_tokens:
            hints.append(CostHint("region", region_tokens, money(saving)))
    return tuple(hints)
