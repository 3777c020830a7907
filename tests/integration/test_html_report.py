"""`usageflow report --format html` rendered by a real browser: reports from the billing SQL of a
warehouse, the page opened in headless Chromium (`--dump-dom`), assertions on the rendered DOM.

Needs Debian's `chromium` at /usr/bin/chromium (CI installs it); without it the test fails.
"""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from usageflow.billing import queries
from usageflow.billing.html_report import render_html
from usageflow.billing.tables import load_price_book, upsert_accounts
from usageflow.pricing.price_book import PriceBook
from usageflow.pricing.rating import rate_event
from usageflow.schemas import Account, UsageEvent
from usageflow.warehouse import Warehouse

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
BOOK = PriceBook()
MONTH = "2026-11"
HOSTILE = "<b>x</b>"
PLAN_DAYS = [150, 180, 40, 260, 90, 300, 60, 210, 280, 190, 250, 230, 160, 200]  # k tokens, Nov 1..14: 2.6M
PAYG_DAYS = {2: 100, 4: 200, 6: 150, 8: 250, 10: 120, 12: 180, 14: 100}  # k tokens: 1.1M
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def _columns() -> list[str]:
    text = (ROOT / "sql" / "0001_rated_events.sql").read_text()
    body = text[text.index("(") + 1 : text.index("\nENGINE")]
    return [m.group(1) for m in re.finditer(r"^\s+([a-z_0-9]+)\s+\S", body, re.MULTILINE)]


def _load(warehouse: Warehouse, events: list[UsageEvent], accounts: dict[str, Account]) -> None:
    columns, rows = _columns(), []
    for e in events:
        r = rate_event(e, accounts.get(e.account_id), BOOK)
        values = {
            **{k: getattr(e, k) for k in ("event_id", "account_id", "api_key_id", "model", "latency_ms")},
            **{k: getattr(e, k) or "" for k in ("region", "feature", "user_id")},
            **{k: getattr(r, k) for k in ("input_per_1k", "output_per_1k", "region_multiplier")},
            **{k: getattr(r, k) for k in ("off_peak_multiplier", "list_cost", "billing_tz", "billing_month")},
            "input_tokens": e.input_tokens,
            "output_tokens": e.output_tokens,
            "ts": e.ts.astimezone(UTC),
            "billing_date": r.billing_date,
            "extra": "",
            "ingested_at": datetime.now(UTC),
        }
        rows.append([values[c] for c in columns])
    warehouse.insert_rows("rated_events", rows, columns)


def _event(n: int, account: str, tokens: int, day: int, model: str, region: str | None, feature: str) -> UsageEvent:
    return UsageEvent(
        schema_version=1,
        event_id=f"{account}-{n}",
        account_id=account,
        api_key_id="k1" if n % 2 else "k2",
        model=model,
        region=region,
        input_tokens=tokens // 3,
        output_tokens=tokens - tokens // 3,
        ts=datetime(2026, 11, day, 4, 0, tzinfo=UTC),  # 12:00 Asia/Shanghai: peak, same local day
        latency_ms=100,
        feature=feature,
        user_id="<i>u</i>",
    )


def _events() -> list[UsageEvent]:
    events: list[UsageEvent] = []
    for day, k in enumerate(PLAN_DAYS, start=1):
        flagship = k * 1000 * 2 // 3
        events.append(_event(len(events), "edu-001", flagship, day, "qwen-max", "us-west", "code_completion"))
        events.append(_event(len(events), "edu-001", k * 1000 - flagship, day, "qwen-plus", "eu-central", HOSTILE))
    for day, k in PAYG_DAYS.items():
        events.append(_event(len(events), "payg-web.1", k * 500, day, "qwen-max", "us-west", "chat"))
        events.append(_event(len(events), "payg-web.1", k * 300, day, "qwen-turbo", "ap-southeast", "code_completion"))
        events.append(_event(len(events), "payg-web.1", k * 200, day, "qwen-plus", None, "a&b"))
    return events


class Dom(HTMLParser):
    """The dumped DOM: text per account section, the chart titles, the summary cards, every element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict[str, str]]] = []
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: dict[str, list[str]] = defaultdict(list)  # section id ('' outside) -> text nodes
        self.captions: dict[str, list[str]] = defaultdict(list)
        self.cards: dict[str, dict[str, str]] = defaultdict(dict)
        self.head_title = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = (tag, {k: v or "" for k, v in attrs})
        self.elements.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        section = next((a["id"] for t, a in self.stack if t == "section"), "")
        self.text[section].append(data)
        tag, attrs = self.stack[-1] if self.stack else ("", {})
        if tag == "title" and any(t == "head" for t, _ in self.stack):
            self.head_title += data
        if tag == "figcaption":
            self.captions[section].append(data)
        if attrs.get("class") == "v" and len(self.stack) > 1 and "data-field" in self.stack[-2][1]:
            self.cards[section][self.stack[-2][1]["data-field"]] = data

    def all_text(self, section: str | None = None) -> str:
        parts = self.text[section] if section is not None else [t for v in self.text.values() for t in v]
        return re.sub(r"\s+", " ", " ".join(parts))


def _browser_dom(page: Path, profile: Path) -> str:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install chromium`) to run the "
            "HTML report test (CI installs it)",
            pytrace=False,
        )
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}"]
    done = subprocess.run(
        [str(CHROMIUM), *args, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "<svg" in done.stdout, done.stdout[:2000]
    return done.stdout


def test_html_report_in_a_browser(warehouse: Warehouse, tmp_path: Path) -> None:
    load_price_book(warehouse, BOOK)
    accounts = {"edu-001": Account(account_id="edu-001", plan="standard", contract_months=12, educational=True)}
    upsert_accounts(warehouse, list(accounts.values()))
    _load(warehouse, _events(), accounts)
    reports: list[dict[str, Any]] = [r.to_json() for r in queries.report(warehouse, MONTH, as_of=date(2026, 11, 15))]
    assert [r["account_id"] for r in reports] == ["edu-001", "payg-web.1"]
    plan, payg = reports
    assert (plan["total_tokens"], payg["total_tokens"]) == (2_600_000, 1_100_000)
    invoices = {i.account_id: i for i in queries.invoices(warehouse, MONTH)}
    assert invoices["edu-001"].billable_tokens == 600_000

    page = tmp_path / "report.html"
    html = render_html(reports, MONTH, generated_at=datetime(2026, 11, 15, 9, 30, tzinfo=UTC))
    page.write_text(html, encoding="utf-8")
    dom = Dom()
    dom.feed(_browser_dom(page, tmp_path / "chromium-profile"))

    # the page: title, one section per account with its id, the overview table
    assert dom.head_title == "Usage report 2026-11"
    assert "Usage report 2026-11" in dom.all_text("")  # the h1
    for i, r in enumerate(reports):
        assert dom.text[f"acct-{i}"][0] == r["account_id"]  # the section's heading
        # the figures are the report's, exactly
        cards = dom.cards[f"acct-{i}"]
        assert cards["invoice_total_so_far"] == r["invoice_total_so_far"]
        assert cards["cost_estimate"] == r["cost_estimate"]
        assert cards["list_cost"] == r["list_cost"]
        assert cards["total_tokens"] == f"{r['total_tokens']:,}"
        assert cards["estimated_monthly"] == f"{r['estimated_monthly']:,}"

    # the charts, each an inline SVG under its title
    common = ["Daily tokens", "Position in the volume tiers", "Cost by model", "Cost by region"]
    assert sorted(dom.captions["acct-0"]) == sorted([*common, "Quota burn-down"])
    assert sorted(dom.captions["acct-1"]) == sorted([*common, "Cumulative tokens"])
    assert sum(1 for t, _ in dom.elements if t == "svg") == 10
    plan_text, payg_text = dom.all_text("acct-0"), dom.all_text("acct-1")
    # plan: daily quota 2,000,000 / 30, monthly quota line, 600,000 overage in tier 3 at M = 0.9
    assert "daily quota 66,667" in plan_text and "monthly quota 2,000,000" in plan_text
    assert "overage 600,000" in plan_text and "Blended tier factor M = 0.9 (" in plan_text
    assert "used up on 2026-11-11" in plan_text
    assert f"projected {plan['estimated_monthly']:,}" in plan_text
    # payg: no quota; all 1,100,000 tokens billable: (100k + 400k×0.9 + 500k×0.8 + 100k×0.7) / 1.1M
    assert "quota" not in payg_text.replace("no daily quota", "")
    assert "billable 1,100,000" in payg_text and "Blended tier factor M = 0.8455 (" in payg_text
    for model in ("qwen-max", "qwen-turbo", "qwen-plus"):
        assert model in payg_text
    assert "(no region)" in payg_text and "ap-southeast" in payg_text

    # user text is text: the feature `<b>x</b>` shows literally and makes no element
    assert HOSTILE in plan_text and "a&b" in payg_text
    assert not [t for t, _ in dom.elements if t in {"b", "i", "script"}]
    assert "&lt;b&gt;x&lt;/b&gt;" in html and HOSTILE not in html

    # self-contained: nothing to fetch
    for tag, attrs in dom.elements:
        assert tag not in {"script", "link", "img", "iframe", "object", "embed"}, tag
        for name in ("src", "href", "xlink:href", "action", "poster"):
            value = attrs.get(name, "")
            assert not re.match(r"\s*(https?:)?//", value, re.IGNORECASE), (tag, name, value)
            assert not value or value.startswith("#"), (tag, name, value)
    assert not re.search(r"https?://|@import|url\((?!#)", html, re.IGNORECASE)
