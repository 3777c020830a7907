"""Billing: invoices, usage reports, plan recommendations and cost hints (docs/pricing.md §3–9).

- `tables`: load the price book and upsert accounts into the warehouse.
- `queries`: read invoices / reports / recommendations computed by the SQL views.
- `reference`: the same rules in pure Python with exact rationals (the tests' oracle).
- `model`: the result records shared by both, with `to_json()` in the shapes of docs/cli.md.
- `html_report`: the self-contained HTML page of `usageflow report --format html`.
"""

from usageflow.billing.model import (
    BreakdownRow,
    CostHint,
    Invoice,
    InvoiceLine,
    PlanQuote,
    Recommendation,
    UsageReport,
)

__all__ = [
    "BreakdownRow",
    "CostHint",
    "Invoice",
    "InvoiceLine",
    "PlanQuote",
    "Recommendation",
    "UsageReport",
]
