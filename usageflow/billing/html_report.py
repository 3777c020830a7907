"""`usageflow report --format html`: one self-contained HTML page (no scripts, no external
files) from the JSON form of usage reports (UsageReport.to_json())."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2.2rem;border-bottom:1px solid #ccc}
h3{font-size:.95rem;margin:1.2rem 0 .3rem}
table{border-collapse:collapse;margin:.3rem 0 1rem}
td,th{padding:.2rem .7rem;border-bottom:1px solid #eee;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:flex;flex-wrap:wrap;gap:0 2.5rem}
.bar{display:inline-block;height:.7rem;background:#4a7bd0;vertical-align:middle}
.muted{color:#777;font-size:.85rem}
"""

_SUMMARY = (
    ("plan", "plan", False),
    ("total tokens", "total_tokens", True),
    ("list cost (CNY)", "list_cost", True),
    ("days elapsed", "days_elapsed", True),
    ("average daily tokens", "average_daily", True),
    ("estimated monthly tokens", "estimated_monthly", True),
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
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))


def _breakdown(title: str, rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return ""
    body = "".join(
        f"<tr><td>{escape(str(r['key']) or '(none)')}</td><td class=n>{_num(r['tokens'])}</td>"
        f"<td class=n>{escape(str(r['list_cost']))}</td></tr>"
        for r in rows
    )
    return (
        f"<div><h3>by {escape(title)}</h3><table><tr><th>{escape(title)}</th>"
        f"<th class=n>tokens</th><th class=n>list cost</th></tr>{body}</table></div>"
    )


def _days(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return ""
    peak = max(int(r["tokens"]) for r in rows) or 1
    body = "".join(
        f"<tr><td>{escape(str(r['key']))}</td><td class=n>{_num(r['tokens'])}</td>"
        f"<td><span class=bar style='width:{int(200 * int(r['tokens']) / peak)}px'></span></td></tr>"
        for r in rows
    )
    return f"<div><h3>by day</h3><table><tr><th>day</th><th class=n>tokens</th><th></th></tr>{body}</table></div>"


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


def _account(report: dict[str, Any]) -> str:
    summary = "".join(
        f"<tr><th>{escape(label)}</th><td class={'n' if numeric else ''}>{_num(report.get(key, ''))}</td></tr>"
        for label, key, numeric in _SUMMARY
    )
    parts = "".join(_breakdown(title, report.get(key, [])) for key, title in _BREAKDOWNS)
    return (
        f"<h2>{escape(str(report['account_id']))}</h2>"
        f"<p class=muted>as of {escape(str(report.get('as_of', '')))}, {report.get('days_elapsed', '')} of "
        f"{report.get('days_in_month', '')} days</p>"
        f"<table>{summary}</table>{_hints(report.get('hints', []))}"
        f"<div class=grid>{parts}{_days(report.get('by_day', []))}</div>"
    )


def render_html(reports: Sequence[dict[str, Any]], month: str, generated_at: datetime) -> str:
    """The page for `reports` (dicts as produced by UsageReport.to_json())."""
    accounts = "".join(_account(r) for r in reports) or "<p>No usage and no plan accounts this month.</p>"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>Usage report {escape(month)}</title><style>{_CSS}</style></head><body>"
        f"<h1>Usage report {escape(month)}</h1>"
        f"<p class=muted>{len(reports)} account(s) · generated {escape(generated_at.isoformat(timespec='seconds'))}"
        " · amounts in CNY</p>"
        f"{accounts}</body></html>\n"
    )
