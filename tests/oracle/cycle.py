"""The tests' oracle of the billing cycle: closing months, adjustments and prepaid credits, in
plain Python, no infrastructure (docs/pricing.md §12, §13, docs/billing-cycle.md).

It replays what happened to a warehouse — events arriving, accounts changing, grants, closes —
and says what `usageflow invoice`, `invoice close` and `credits balance` must answer. It is
written independently of usageflow.billing (closing, cycle, ledger, credits) and of
usageflow.pricing.credits: it imports only the input types and result records, and the invoice
arithmetic of a month's own lines from the billing oracle next to it (tests/oracle/billing.py).

The rules it encodes:

- A close of month M (all accounts, or one) issues every invoice of M not issued yet that the
  month lists: accounts with usage in M, known accounts on a plan, and accounts whose
  adjustments M carries; in a month already closed as a whole, only accounts with usage. They
  are numbered on from the month's last number, in account-id order.
- An issued invoice keeps its lines and the account's terms of that moment. Its pending
  adjustment is its charges priced now (same terms, today's usage) minus its charges as issued
  minus the adjustments for it already on issued invoices.
- A pending adjustment of month N goes to the first month after N that the account has no
  issued invoice for and that was not closed as a whole.
- Credits: the grants whose expiry is on or after the month's last day (or that never expire),
  by priority, then expiry (none last), then age, pay the total (own lines plus adjustments)
  while it is above zero, each up to what it still holds.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from tests.oracle import billing as ref
from usageflow.billing.model import Invoice, InvoiceLine
from usageflow.pricing.price_book import PriceBook
from usageflow.schemas import Account

ZERO = Decimal("0.00")


def following(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year + 1}-01" if mon == 12 else f"{year}-{mon + 1:02d}"


def last_day(month: str) -> date:
    year, mon = int(month[:4]), int(month[5:7])
    return date(year, mon, calendar.monthrange(year, mon)[1])


@dataclass(frozen=True)
class OracleGrant:
    grant_id: str
    account_id: str
    amount: Decimal
    expires: date | None
    priority: int
    order: int  # the n-th grant made


@dataclass
class Issued:
    invoice: Invoice
    charges: Decimal
    terms: Account | None  # the account as it was when the invoice was issued
    draws: dict[str, Decimal]


@dataclass
class CycleOracle:
    book: PriceBook
    accounts: dict[str, Account] = field(default_factory=dict)
    usage: dict[tuple[str, str], dict[str, ref.UsageRow]] = field(default_factory=lambda: defaultdict(dict))
    grants: list[OracleGrant] = field(default_factory=list)
    issued: dict[tuple[str, str], Issued] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)
    last_number: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    # --- what happens ------------------------------------------------------------------

    def add_event(self, account_id: str, month: str, event_id: str, row: ref.UsageRow) -> None:
        self.usage[(account_id, month)].setdefault(event_id, row)  # an event id counts once

    def set_account(self, account: Account) -> None:
        self.accounts[account.account_id] = account

    def grant(self, grant_id: str, account_id: str, amount: Decimal, expires: date | None, priority: int) -> None:
        if any(g.grant_id == grant_id for g in self.grants):
            return
        self.grants.append(OracleGrant(grant_id, account_id, amount, expires, priority, len(self.grants)))

    def close(self, month: str, account_id: str | None, now: datetime) -> list[Invoice]:
        todo = [a for a in self._listed(month) if (a, month) not in self.issued]
        if account_id is not None:
            todo = [a for a in todo if a == account_id]
        drafts = {a: self._draft(a, month) for a in todo}  # every draft before any is issued
        for a in sorted(todo):
            self.last_number[month] += 1
            number = f"INV-{month[:4]}{month[5:7]}-{self.last_number[month]:06d}"
            invoice = drafts[a]
            issued = Invoice(
                **{**_fields(invoice), "status": "issued", "number": number, "issued_at": now},
            )
            credits = next((line for line in invoice.lines if line.kind == "credits"), None)
            self.issued[(a, month)] = Issued(
                issued,
                self._own_total(invoice),
                self.accounts.get(a),
                dict(credits.draws) if credits else {},
            )
        if account_id is None:
            self.closed.add(month)
        return [
            self._with_pending(self.issued[k].invoice)
            for k in sorted(self.issued)
            if k[1] == month and account_id in (None, k[0])
        ]

    # --- what is answered --------------------------------------------------------------

    def invoices(self, month: str) -> list[Invoice]:
        out: dict[str, Invoice] = {}
        for (a, m), issued in self.issued.items():
            if m == month:
                out[a] = self._with_pending(issued.invoice)
        for a in self._listed(month):
            if a not in out:
                out[a] = self._draft(a, month)
        return [out[a] for a in sorted(out)]

    def balances(self, account_id: str) -> list[tuple[str, Decimal, Decimal, date | None, int]]:
        """(grant id, amount, remaining, expires, priority) in draw order."""
        return [
            (g.grant_id, g.amount, g.amount - self._drawn(g.grant_id), g.expires, g.priority)
            for g in self._in_order(g for g in self.grants if g.account_id == account_id)
        ]

    def pending(self, account_id: str, month: str) -> Decimal:
        issued = self.issued[(account_id, month)]
        now = ref.invoice(self.book, account_id, month, issued.terms, self._rows(account_id, month)).total
        carried = sum(
            (
                line.amount
                for (a, _), other in self.issued.items()
                if a == account_id
                for line in other.invoice.lines
                if line.kind == "adjustment" and line.for_month == month
            ),
            ZERO,
        )
        return now - issued.charges - carried

    # --- the rules ---------------------------------------------------------------------

    def _rows(self, account_id: str, month: str) -> list[ref.UsageRow]:
        return list(self.usage.get((account_id, month), {}).values())

    def _carrier(self, account_id: str, month: str) -> str:
        m = following(month)
        while (account_id, m) in self.issued or m in self.closed:
            m = following(m)
        return m

    def _carried_by(self, account_id: str, month: str) -> list[tuple[str, Decimal]]:
        out = []
        for a, m in sorted(self.issued):
            if a == account_id and self._carrier(a, m) == month:
                amount = self.pending(a, m)
                if amount:
                    out.append((m, amount))
        return out

    def _listed(self, month: str) -> list[str]:
        with_usage = {a for (a, m), rows in self.usage.items() if m == month and rows}
        if month in self.closed:
            return sorted(a for a in with_usage if (a, month) not in self.issued)
        on_plan = {a for a, acc in self.accounts.items() if acc.plan in self.book.plans}
        carried = {a for a, m in self.issued if self._carrier(a, m) == month and self.pending(a, m)}
        return sorted(with_usage | on_plan | carried)

    def _own_total(self, invoice: Invoice) -> Decimal:
        return sum((line.amount for line in invoice.lines if line.kind not in ("adjustment", "credits")), ZERO)

    def _drawn(self, grant_id: str) -> Decimal:
        return sum((i.draws.get(grant_id, ZERO) for i in self.issued.values()), ZERO)

    def _in_order(self, grants: Iterable[OracleGrant]) -> list[OracleGrant]:
        return in_order(grants)

    def _draft(self, account_id: str, month: str) -> Invoice:
        own = ref.invoice(self.book, account_id, month, self.accounts.get(account_id), self._rows(account_id, month))
        carried = self._carried_by(account_id, month)
        adjustments = [InvoiceLine("adjustment", amount, for_month=m) for m, amount in carried]
        due = own.total + sum((line.amount for line in adjustments), ZERO)
        mine = [g for g in self.grants if g.account_id == account_id]
        draws = draw(mine, {g.grant_id: self._drawn(g.grant_id) for g in mine}, month, due)
        paid = sum((a for _, a in draws), ZERO)
        lines = list(own.lines) + adjustments
        if paid:
            lines.append(InvoiceLine("credits", -paid, draws=tuple(draws)))
        total = own.total + sum((line.amount for line in adjustments), ZERO) - paid
        return Invoice(**{**_fields(own), "lines": tuple(lines), "total": total})

    def _with_pending(self, invoice: Invoice) -> Invoice:
        amount = self.pending(invoice.account_id, invoice.month)
        return Invoice(**{**_fields(invoice), "pending_adjustment": amount or None})


def in_order(grants: Iterable[OracleGrant]) -> list[OracleGrant]:
    return sorted(grants, key=lambda g: (g.priority, g.expires is None, g.expires or date.max, g.order))


def draw(grants: list[OracleGrant], drawn: dict[str, Decimal], month: str, due: Decimal) -> list[tuple[str, Decimal]]:
    """(grant id, amount) paying `due` for `month`: the grants unexpired at its last day, in draw
    order, each giving what it still holds (amount − drawn) until nothing is due."""
    out: list[tuple[str, Decimal]] = []
    for g in in_order(g for g in grants if g.expires is None or g.expires >= last_day(month)):
        if due <= 0:
            break
        holds = g.amount - drawn.get(g.grant_id, ZERO)
        if holds <= 0:
            continue
        take = min(holds, due)
        out.append((g.grant_id, take))
        due -= take
    return out


def _fields(invoice: Invoice) -> dict[str, object]:
    return {name: getattr(invoice, name) for name in Invoice.__dataclass_fields__}


# --- the credits_low alert -----------------------------------------------------------------


def credits_low_levels(
    book: PriceBook,
    account: Account | None,
    month: str,
    month_rows: list[ref.UsageRow],
    grants: list[tuple[Decimal, Decimal, date | None]],
    levels: list[Decimal],
) -> list[tuple[int, Decimal, Decimal]]:
    """(index of the event that crossed, level, remaining CNY) for the events of one month in
    order. `grants`: (amount, what it holds for this month, expires) of each grant."""
    paying = [(amount, holds) for amount, holds, expires in grants if expires is None or expires >= last_day(month)]
    granted = sum((a for a, _ in paying), ZERO)
    available = sum((max(h, ZERO) for _, h in paying), ZERO)
    if granted <= 0:
        return []
    fired: list[tuple[int, Decimal, Decimal]] = []
    done: set[Decimal] = set()
    for i in range(len(month_rows)):
        estimate = ref.invoice(book, "x", month, account, month_rows[: i + 1]).total
        remaining = max(available - estimate, ZERO)
        for level in sorted(levels):
            if level not in done and remaining <= level * granted:
                done.add(level)
                fired.append((i, level, remaining))
    return fired
