"""The HTML report's invoice and credits blocks (usageflow.billing.html_report), from the JSON
shapes `usageflow report --format json` gives."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from usageflow.billing.html_report import render_html

pytestmark = pytest.mark.unit

REPORT = {
    "account_id": "edu-001",
    "month": "2026-11",
    "currency": "CNY",
    "plan": "standard",
    "as_of": "2026-11-30",
    "days_in_month": 30,
    "days_elapsed": 30,
    "total_tokens": 2_000_000,
    "list_cost": "12.00",
    "average_daily": "66666.67",
    "estimated_monthly": 2_000_000,
    "cost_estimate": "679.32",
    "invoice_total_so_far": "679.32",
    "quota": 2_000_000,
}


def page(invoice: dict[str, object], credits: list[dict[str, object]]) -> str:
    generated = datetime(2026, 12, 2, tzinfo=UTC)
    return render_html([{**REPORT, "invoice": invoice, "credits": credits}], "2026-11", generated)


def test_an_issued_invoice_with_adjustment_credits_and_pending() -> None:
    html = page(
        {
            "status": "issued",
            "number": "INV-202611-000001",
            "issued_at": "2026-12-01T12:30:00.000Z",
            "lines": [
                {"kind": "plan_fee", "amount": "999.00"},
                {"kind": "usage", "amount": "0.00", "tokens": 0},
                {"kind": "adjustment", "for_month": "2026-10", "amount": "0.32"},
                {"kind": "credits", "amount": "-100.00", "draws": [{"grant_id": "PO-1", "amount": "100.00"}]},
            ],
            "total": "899.32",
            "pending_adjustment": "-1.10",
        },
        [{"grant_id": "PO-1", "amount": "100.00", "remaining": "0.00", "expires": None, "priority": 0}],
    )
    assert "invoice INV-202611-000001, issued 2026-12-01T12:30:00.000Z" in html
    assert "adjustment for 2026-10</td><td class=n></td><td class=n>0.32" in html
    assert "prepaid credits (PO-1: 100.00)" in html
    assert "<th class=n>899.32</th>" in html
    assert "-1.10 CNY will be carried to the next open month" in html
    assert "<td>PO-1</td><td class=n>100.00</td><td class=n>0.00</td><td>never</td>" in html


def test_a_draft_says_so_and_no_credits_means_no_table() -> None:
    html = page({"status": "draft", "lines": [{"kind": "usage", "amount": "1.00", "tokens": 5}], "total": "1.00"}, [])
    assert "draft invoice (not issued yet" in html
    assert "prepaid credits (in draw order)" not in html and "will be carried" not in html
