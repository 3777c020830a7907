"""The billing cycle's rules, without the warehouse: which month carries an adjustment, and what
a draft invoice holds once adjustments and credits are added (docs/billing-cycle.md).

- An account-month is *open* while the account has no issued invoice for it and the month was
  not closed as a whole. An issued month's difference (pending adjustment: its charges as they
  would be now, minus as issued, minus what was already carried) goes to the account's first
  open month after it, as an `adjustment` line; it is carried once that month is issued.
- A draft's lines: the month's own (plan fee, usage, discounts), then one `adjustment` line per
  issued month it carries (oldest first), then `credits`: what the account's grants would pay
  of the total so far (nothing when that is 0.00 or less). The total never goes below 0.00
  through credits; only adjustments larger than the month's charges can make it negative.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal

from usageflow.billing.model import OWN_KINDS, Invoice, InvoiceLine
from usageflow.pricing.credits import GrantBalance, draw

ZERO = Decimal("0.00")
Pending = Mapping[tuple[str, str], Decimal]
"""(account_id, issued month) -> the difference not carried yet (nonzero entries only)."""


def next_month(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year + mon // 12:04d}-{mon % 12 + 1:02d}"


def carrier_month(issued_month: str, issued_months: Iterable[str], closed_months: Iterable[str]) -> str:
    """The account's first open month after `issued_month`: neither issued for the account
    (`issued_months`) nor closed as a whole (`closed_months`)."""
    taken = set(issued_months) | set(closed_months)
    month = next_month(issued_month)
    while month in taken:
        month = next_month(month)
    return month


def adjustments_for(
    month: str,
    pending: Pending,
    issued_months: Mapping[str, Iterable[str]],
    closed_months: Iterable[str],
) -> dict[str, list[tuple[str, Decimal]]]:
    """Per account, the (issued month, amount) adjustments `month` carries, oldest first."""
    closed = set(closed_months)
    out: dict[str, list[tuple[str, Decimal]]] = defaultdict(list)
    for (account_id, issued), amount in sorted(pending.items()):
        if amount and carrier_month(issued, issued_months.get(account_id, ()), closed) == month:
            out[account_id].append((issued, amount))
    return dict(out)


def draft(base: Invoice, adjustments: Sequence[tuple[str, Decimal]], balances: Sequence[GrantBalance]) -> Invoice:
    """`base` (the month's own lines, as the invoice views compute them) with the adjustment
    lines it carries and the credits it would draw now."""
    own = tuple(line for line in base.lines if line.kind in OWN_KINDS)
    carried = tuple(InvoiceLine("adjustment", amount, for_month=m) for m, amount in sorted(adjustments) if amount)
    before = sum((line.amount for line in own + carried), ZERO)
    draws = draw(balances, base.month, before)
    paid = sum((d.amount for d in draws), ZERO)
    credits = (InvoiceLine("credits", -paid, draws=tuple((d.grant_id, d.amount) for d in draws)),) if paid else ()
    return replace(
        base,
        lines=own + carried + credits,
        total=before - paid,
        status="draft",
        number=None,
        issued_at=None,
        pending_adjustment=None,
    )


def with_pending(invoice: Invoice, pending: Pending) -> Invoice:
    """An issued invoice with its pending adjustment (None when nothing is pending)."""
    amount = pending.get((invoice.account_id, invoice.month))
    return replace(invoice, pending_adjustment=amount if amount else None)


def invoice_number(month: str, n: int) -> str:
    """INV-YYYYMM-NNNNNN."""
    if not 1 <= n <= 999_999:
        raise ValueError(f"invoice number {n} of {month} does not fit INV-YYYYMM-NNNNNN")
    return f"INV-{month[:4]}{month[5:7]}-{n:06d}"
