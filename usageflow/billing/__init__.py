"""Billing: invoices, usage reports, plan recommendations and cost hints.

- `tables`: load the price book and upsert accounts into the warehouse.
- `queries`: read invoices / reports / recommendations computed by the SQL views.
- `model`: the result records, with `to_json()` in the shapes the CLI prints.
- `html_report`, `html_charts`: the self-contained HTML page of `usageflow report --format html`.
- the billing cycle (docs/billing-cycle.md): `cycle` (its rules, pure), `ledger` (reading closes,
  issued invoices, pending adjustments, grants; a month's invoices as `usageflow invoice` shows
  them), `closing` (`invoice close`), `credits` (`credits grant | balance`), `writes` (closing and
  granting by name, locally or through the worker).

The pricing math in Python (terms, tiers, daily limits, invoice lines, rounding) is
usageflow.pricing, shared with the alerts; the tests hold the SQL views and that package
against an independent oracle (tests/oracle/billing.py).
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
