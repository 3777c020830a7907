"""`usageflow report --format html`: one self-contained HTML page (inline CSS and inline SVG, no
scripts, no external files or fonts) from the JSON form of usage reports (UsageReport.to_json()).

Per account: summary figures, then charts (html_charts.py) of daily tokens against the plan's
daily quota (monthly tokens / 30), list cost by model and by region, the position of the month's
billable tokens in the graduated tiers with the blended tier factor, and the quota burn-down
with the month-end projection; then cost hints and breakdown tables. A report dict that carries
the account's `invoice` (draft or issued, with adjustments and credits) and `credits` (grants
with what remains), as `usageflow report` gives them, shows those above the charts. The quota,
the daily limit and the tier math come from usageflow.pricing, the same code the alerts use.

The report records carry the plan's name but not its quota or the tiers, so those come from the
price book (`book`, default the built-in one); a report dict that carries `quota` (monthly tokens
including a custom plan's extra tokens) is used as is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from html import escape
from typing import Any

from usageflow.billing import html_charts as charts
from usageflow.pricing.money import round_half_up
from usageflow.pricing.price_book import PriceBook
from usageflow.pricing.terms import daily_token_limit
from usageflow.pricing.tiers import tier_schedule

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1360px;
padding:0 1.5rem;color:#222}
h1{font-size:1.5rem;margin-bottom:.2rem}
h2{font-size:1.25rem;margin-top:2.6rem;padding-bottom:.3rem;border-bottom:2px solid #4a7bd0}
h2 .plan{font-size:.8rem;font-weight:600;background:#eef3fa;color:#1f3b66;border-radius:.8rem;
padding:.15rem .6rem;margin-left:.6rem;vertical-align:middle}
h3{font-size:.95rem;margin:1.2rem 0 .3rem}
table{border-collapse:collapse;margin:.3rem 0 1rem}
td,th{padding:.2rem .7rem;border-bottom:1px solid #eee;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
a{color:#2f5fb0}
.grid{display:flex;flex-wrap:wrap;gap:0 2.5rem}
.muted{color:#777;font-size:.85rem}
.cards{display:flex;flex-wrap:wrap;gap:.6rem;margin:.8rem 0 1rem}
.card{border:1px solid #e3e6ea;border-radius:.5rem;padding:.45rem .8rem;min-width:8.5rem}
.card .v{font-size:1.15rem;font-weight:600;font-variant-numeric:tabular-nums}
.card .k{font-size:.75rem;color:#666}
.card.money{background:#f6f9fe;border-color:#c9d8f0}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:.5rem 2rem}
figure.chart{margin:.6rem 0;break-inside:avoid}
figure.wide{grid-column:1/-1}
figcaption{font-weight:600;font-size:.95rem;margin-bottom:.3rem}
svg{max-width:100%;height:auto;display:block}
svg text{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;font-size:11px;fill:#333}
svg .ax{fill:#666;font-size:10.5px}
svg .qt{fill:#c0392b;font-weight:600}
svg .mk{font-weight:700;fill:#222}
svg .tm{font-weight:600;fill:#1f3b66}
.note{font-size:.82rem;color:#555;margin:.25rem 0 0;max-width:640px}
@media print{body{margin:0;max-width:none}h2{break-before:page}}
"""

_CARDS = (
    ("total tokens", "total_tokens", False),
    ("list cost (CNY)", "list_cost", False),
    ("average daily tokens", "average_daily", False),
    ("estimated monthly tokens", "estimated_monthly", False),
    ("invoice so far (CNY)", "invoice_total_so_far", True),
    ("month-end estimate (CNY)", "cost_estimate", True),
)
_BREAKDOWNS = (
    ("by_api_key", "API key"),
    ("by_model", "model"),
    ("by_region", "region"),
    ("by_feature", "feature"),
)
_HINTS = {
    "off_peak": "shift peak-hour work to off-peak hours",
    "light_model": "use the light model for light-eligible features",
    "region": "use the cheapest region",
}


def _num(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return escape(str(value))


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)


def _factor(value: Fraction) -> str:
    text = f"{(Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal('0.0001')):f}"
    text = text.rstrip("0")
    return text + "0" if text.endswith(".") else text


def _quota(report: dict[str, Any], book: PriceBook) -> int | None:
    """Monthly tokens of the account's plan; None for payg or a plan the book does not know."""
    if report.get("quota") is not None:
        return _int(report["quota"])
    plan = book.plans.get(str(report.get("plan", "payg")))
    return plan.monthly_tokens if plan is not None else None


def _daily(report: dict[str, Any]) -> list[int]:
    """Tokens per day of the month, index 0 = the 1st (by_day keys are local dates)."""
    values = [0] * max(_int(report.get("days_in_month")), 1)
    for row in report.get("by_day", []):
        try:
            day = date.fromisoformat(str(row["key"])).day
        except (KeyError, ValueError):
            continue
        if day <= len(values):
            values[day - 1] += _int(row.get("tokens"))
    return values


_PARTS = (
    ("cached_input_tokens", "cached input"),
    ("cache_write_tokens", "cache writes"),
    ("reasoning_tokens", "reasoning"),
)


def _breakdown(title: str, rows: Sequence[dict[str, Any]]) -> str:
    """One breakdown table; the token-type parts (of the tokens column) when any row has them."""
    if not rows:
        return ""
    parts = [(key, label) for key, label in _PARTS if any(_int(r.get(key)) for r in rows)]
    body = "".join(
        f"<tr><td>{escape(str(r['key']) or '(none)')}</td><td class=n>{_num(r['tokens'])}</td>"
        + "".join(f"<td class=n>{_num(_int(r.get(key)))}</td>" for key, _ in parts)
        + f"<td class=n>{escape(str(r['list_cost']))}</td></tr>"
        for r in rows
    )
    heads = "".join(f"<th class=n>of which {escape(label)}</th>" for _, label in parts)
    return (
        f"<div><h3>by {escape(title)}</h3><table><tr><th>{escape(title)}</th>"
        f"<th class=n>tokens</th>{heads}<th class=n>list cost</th></tr>{body}</table></div>"
    )


def _prices(book: PriceBook, month: str) -> str:
    """The token-type prices per 1,000 tokens of the version that bills plans in `month` (events
    are rated at the version of their own time: docs/pricing.md §11)."""
    version = book.for_month(month, book.billing_timezone)
    rows = "".join(
        f"<tr><td>{escape(model)}</td>"
        + "".join(f"<td class=n>{escape(str(price))}</td>" for price in version.token_prices(model))
        + "</tr>"
        for model in sorted(version.models)
    )
    since = "" if version.effective_from is None else f", in force since {version.effective_from.isoformat()}"
    return (
        f"<h3>list prices per 1,000 tokens (price version {escape(version.version_label)}{escape(since)})</h3>"
        "<table><tr><th>model</th><th class=n>input</th><th class=n>cached input</th>"
        f"<th class=n>cache write</th><th class=n>output</th><th class=n>reasoning</th></tr>{rows}</table>"
    )


def _hints(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return ""
    body = "".join(
        f"<tr><td>{escape(_HINTS.get(h['hint'], h['hint']))}</td><td class=n>{_num(h['tokens_affected'])}</td>"
        f"<td class=n>{escape(str(h['saving']))}</td></tr>"
        for h in rows
    )
    return (
        "<h3>cost hints (at list price)</h3><table><tr><th>hint</th><th class=n>tokens affected</th>"
        f"<th class=n>saving (CNY)</th></tr>{body}</table>"
    )


def _daily_chart(report: dict[str, Any], quota: int | None, payg: bool) -> str:
    values = _daily(report)
    daily_quota = None
    if quota is not None:
        limit = daily_token_limit(quota)
        daily_quota = round_half_up(limit)
        over = sum(1 for v in values if v > limit)
        note = (
            f"Red line: the plan's daily quota, {quota:,} monthly tokens / 30 = {daily_quota:,}; "
            f"{over} day(s) above it (orange)."
        )
    else:
        note = "Pay as you go: no daily quota." if payg else "The plan's quota is not in the price book."
    svg = charts.daily_tokens(values, _int(report.get("days_elapsed")), daily_quota, str(report.get("month", "")))
    return charts.figure("Daily tokens", svg, escape(note))


def _cost_chart(report: dict[str, Any], key: str, title: str, empty_key: str) -> str:
    rows = [(str(r["key"]) or empty_key, _dec(r["list_cost"]), _int(r["tokens"])) for r in report.get(key, [])]
    currency = str(report.get("currency", "CNY"))
    svg = charts.cost_bars(rows, currency, title.lower())
    return charts.figure(title, svg, escape(f"List cost in {currency}, before tiers, plan and discounts."))


def _tier_chart(report: dict[str, Any], book: PriceBook, quota: int | None, payg: bool) -> str:
    schedule = tier_schedule(book.tiers)
    tiers = list(zip(schedule.starts, schedule.multipliers, strict=True))
    total, estimated = _int(report.get("total_tokens")), _int(report.get("estimated_monthly"))
    if payg or quota is None:
        billable, projected, label = total, estimated, "billable"
    else:
        billable, projected, label = max(0, total - quota), max(0, estimated - quota), "overage"
    factor = schedule.blended_factor(billable)
    svg = charts.tier_position(tiers, billable, projected, label)
    tier = schedule.tier_number(billable)
    if payg:
        what = f"all {billable:,} tokens of the month are billable (pay as you go)"
    elif quota is None:
        what = f"the plan's quota is not in the price book, so all {billable:,} tokens are shown"
    elif billable:
        what = f"{billable:,} overage tokens beyond the {quota:,} quota are billable"
    else:
        what = f"within the {quota:,} quota: no tokens are billed at tier prices yet"
    note = (
        f"So far {what}; the marker sits in tier {tier}. Blended tier factor M = {_factor(factor)} "
        f"(the usage charge is their list cost × M). At the projected month-end: {projected:,} billable tokens, "
        f"M = {_factor(schedule.blended_factor(projected))}."
    )
    return charts.figure("Position in the volume tiers", svg, escape(note), wide=True)


def _burn_chart(report: dict[str, Any], quota: int | None, index: int) -> str:
    values = _daily(report)
    elapsed = min(max(_int(report.get("days_elapsed")), 1), len(values))
    cumulative = [sum(values[: d + 1]) for d in range(elapsed)]
    total, estimated = cumulative[-1], _int(report.get("estimated_monthly"))
    average = _dec(report.get("average_daily"))
    month = str(report.get("month", ""))
    svg = charts.burn_down(cumulative, len(values), estimated, quota, f"burn-clip-{index}")
    pace = f"at {average:,} tokens a day the month ends near {estimated:,} tokens"
    if quota is None:
        note = f"{total:,} tokens in {elapsed} day(s); {pace} (dashed)."
        return charts.figure("Cumulative tokens", svg, escape(note))
    used = f"{total * 100 / quota:.0f}%" if quota else "–"
    note = f"Used {total:,} of the {quota:,} monthly quota ({used}) in {elapsed} of {len(values)} days; {pace}"
    note += f" ({estimated * 100 / quota:.0f}% of the quota)." if quota else "."
    crossed = next((d + 1 for d, c in enumerate(cumulative) if c >= quota and c > 0), None)
    if crossed is not None:
        note += f" The quota was used up on {month}-{crossed:02d}; tokens beyond it are overage."
    elif estimated > quota and average > 0:
        day = min(math.ceil(Decimal(quota) / average), len(values))
        note += f" At this pace the quota runs out around {month}-{day:02d}."
    else:
        note += " At this pace the month stays within the quota."
    return charts.figure("Quota burn-down", svg, escape(note))


_LINE_NAMES = {
    "plan_fee": "plan fee",
    "usage": "usage",
    "discount_prepaid": "prepaid discount",
    "discount_contract": "contract discount",
    "discount_educational": "educational discount",
    "adjustment": "adjustment",
    "credits": "prepaid credits",
}


def _invoice(invoice: dict[str, Any] | None) -> str:
    """The account's invoice of the month: issued (number, date) or draft, every line including
    adjustments and credits, and a difference not carried yet."""
    if not invoice:
        return ""
    if invoice.get("status") == "issued":
        head = f"invoice {escape(str(invoice.get('number', '')))}, issued {escape(str(invoice.get('issued_at', '')))}"
    else:
        head = "draft invoice (not issued yet: it changes until the month is closed)"
    rows = ""
    for line in invoice.get("lines", []):
        kind = str(line.get("kind", ""))
        name = _LINE_NAMES.get(kind, kind)
        if line.get("for_month"):
            name += f" for {line['for_month']}"
        if line.get("draws"):
            name += " (" + ", ".join(f"{d['grant_id']}: {d['amount']}" for d in line["draws"]) + ")"
        tokens = _num(line["tokens"]) if "tokens" in line else ""
        rows += (
            f"<tr data-line={escape(kind)}><td>{escape(name)}</td><td class=n>{tokens}</td>"
            f"<td class=n>{escape(str(line.get('amount', '')))}</td></tr>"
        )
    rows += f"<tr data-line=total><th>total</th><td></td><th class=n>{escape(str(invoice.get('total', '')))}</th></tr>"
    pending = ""
    if invoice.get("pending_adjustment"):
        pending = (
            f"<p class=note data-field=pending_adjustment>Usage of this month changed since it was issued: "
            f"{escape(str(invoice['pending_adjustment']))} CNY will be carried to the next open month.</p>"
        )
    return (
        f"<div><h3>{head}</h3><table><tr><th>line</th><th class=n>tokens</th><th class=n>amount</th></tr>"
        f"{rows}</table>{pending}</div>"
    )


def _credits(grants: Sequence[dict[str, Any]]) -> str:
    if not grants:
        return ""
    body = "".join(
        f"<tr><td>{escape(str(g['grant_id']))}</td><td class=n>{escape(str(g['amount']))}</td>"
        f"<td class=n>{escape(str(g['remaining']))}</td><td>{escape(str(g.get('expires') or 'never'))}</td>"
        f"<td class=n>{escape(str(g.get('priority', '')))}</td></tr>"
        for g in grants
    )
    return (
        "<div><h3>prepaid credits (in draw order)</h3><table><tr><th>grant</th><th class=n>amount</th>"
        f"<th class=n>remaining</th><th>expires</th><th class=n>priority</th></tr>{body}</table></div>"
    )


def _account(report: dict[str, Any], book: PriceBook, index: int) -> str:
    plan = str(report.get("plan", "payg"))
    payg = plan == "payg"
    quota = None if payg else _quota(report, book)
    values = {key: _num(report.get(key, "")) for _, key, _ in _CARDS}
    values["average_daily"] = f"{_dec(report.get('average_daily')):,}"
    cards = "".join(
        f"<div class='card{' money' if money else ''}' data-field={key}>"
        f"<div class=v>{values[key]}</div><div class=k>{escape(label)}</div></div>"
        for label, key, money in _CARDS
    )
    plan_text = plan if payg or quota is None else f"{plan} · {quota:,} tokens/month"
    figures = (
        _daily_chart(report, quota, payg)
        + _burn_chart(report, quota, index)
        + _tier_chart(report, book, quota, payg)
        + _cost_chart(report, "by_model", "Cost by model", "(none)")
        + _cost_chart(report, "by_region", "Cost by region", "(no region)")
    )
    parts = "".join(_breakdown(title, report.get(key, [])) for key, title in _BREAKDOWNS)
    return (
        f"<section id=acct-{index}><h2>{escape(str(report['account_id']))}"
        f"<span class=plan>{escape(plan_text)}</span></h2>"
        f"<p class=muted>as of {escape(str(report.get('as_of', '')))}, {_int(report.get('days_elapsed'))} of "
        f"{_int(report.get('days_in_month'))} days · amounts in {escape(str(report.get('currency', 'CNY')))}</p>"
        f"<div class=cards>{cards}</div>"
        f"<div class=grid>{_invoice(report.get('invoice'))}{_credits(report.get('credits', []))}</div>"
        f"<div class=charts>{figures}</div>"
        f"{_hints(report.get('hints', []))}<div class=grid>{parts}</div></section>"
    )


def _overview(reports: Sequence[dict[str, Any]]) -> str:
    if len(reports) < 2:
        return ""
    rows = "".join(
        f"<tr><td><a href='#acct-{i}'>{escape(str(r['account_id']))}</a></td>"
        f"<td>{escape(str(r.get('plan', '')))}</td><td class=n>{_num(r.get('total_tokens', 0))}</td>"
        f"<td class=n>{escape(str(r.get('invoice_total_so_far')))}</td>"
        f"<td class=n>{escape(str(r.get('cost_estimate')))}</td></tr>"
        for i, r in enumerate(reports)
    )
    return (
        "<table class=overview><tr><th>account</th><th>plan</th><th class=n>tokens</th>"
        f"<th class=n>invoice so far</th><th class=n>month-end estimate</th></tr>{rows}</table>"
    )


def render_html(
    reports: Sequence[dict[str, Any]], month: str, generated_at: datetime, book: PriceBook | None = None
) -> str:
    """The page for `reports` (dicts as produced by UsageReport.to_json()); `book` gives the plan
    quotas and tiers (default: the built-in price book)."""
    book = book or PriceBook()
    accounts = "".join(_account(r, book, i) for i, r in enumerate(reports))
    accounts = accounts or "<p>No usage and no plan accounts this month.</p>"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>Usage report {escape(month)}</title><style>{_CSS}</style></head><body>"
        f"<h1>Usage report {escape(month)}</h1>"
        f"<p class=muted>{len(reports)} account(s) · generated {escape(generated_at.isoformat(timespec='seconds'))}"
        " · amounts in CNY</p>"
        f"{_overview(reports)}{accounts}{_prices(book, month)}</body></html>\n"
    )
