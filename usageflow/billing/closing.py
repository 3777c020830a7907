"""`usageflow invoice close`: issuing a month's invoices (docs/pricing.md §12, docs/billing-cycle.md).

A close runs in three steps, each safe to cut by a crash:

1. the close record (`invoice_close_runs`): the accounts it issues, in account-id order, and the
   first invoice number, so every number is decided before any invoice exists;
2. the invoices (`issued_invoices`, one row each: lines, totals, draws, the terms they were
   billed with), written in chunks; a re-run writes only those still missing;
3. the completion mark (`invoice_close_done`). Readers only see invoices of complete runs.

Any close first completes every run that a crash left incomplete (with its recorded numbers
and `issued_at`), so a killed close leaves no gap and no number twice, and running it again
finishes it. A close is idempotent: when nothing is left to issue it writes nothing and prints
the issued invoices again. Late events change nothing issued; they become adjustments.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from usageflow.billing import ledger
from usageflow.billing.cycle import next_month
from usageflow.billing.ledger import CloseRun, Draft
from usageflow.billing.model import Invoice
from usageflow.errors import UsageflowError
from usageflow.warehouse.client import Warehouse

CHUNK = 500  # invoices per insert
MAX_RUNS = 20  # runs one close may start (each issues what is left; two suffice unless closes race)
StepHook = Callable[[str, int], None]
"""Called after each step: ("record", 0), ("invoices", written so far), ("done", 0)."""

_TERMS = (
    "currency",
    "plan",
    "tokens",
    "billable_tokens",
    "list_cost",
    "events",
    "is_payg",
    "quota",
    "fee",
    "prepaid",
    "contract",
    "educational",
    "prepaid_factor",
    "contract_factor",
    "educational_factor",
    "tier_starts",
    "tier_ends",
    "tier_multipliers",
)
_lock = threading.Lock()  # one close at a time in a process (the worker serves them on threads)


class CloseError(UsageflowError):
    """A month cannot be closed (not over yet, or a malformed month)."""


def month_over(month: str, now: datetime) -> bool:
    """Whether `month` is over in every time zone: from 12:00 UTC on the 1st of the next month
    (the month's end at UTC−12, the latest offset in use)."""
    start = datetime.fromisoformat(f"{next_month(month)}-01T00:00:00+00:00")
    return now >= start + timedelta(hours=12)


def close_month(
    warehouse: Warehouse,
    month: str,
    account: str | None = None,
    *,
    now: datetime | None = None,
    on_step: StepHook | None = None,
) -> list[Invoice]:
    """Issue the invoices of `month` (all accounts, or one) that are not issued yet; return the
    month's issued invoices (of that account)."""
    clock = now or datetime.now(UTC)
    if not month_over(month, clock):
        raise CloseError(
            f"{month} is not over in every time zone yet: it can be closed from {next_month(month)}-01 12:00 UTC"
        )
    step = on_step or (lambda _name, _n: None)
    with _lock:
        for run in ledger.close_runs(warehouse):
            if not run.complete:
                _complete(warehouse, run, step)
        for _ in range(MAX_RUNS):
            state = ledger.month_state(warehouse, month, account)
            todo = sorted(a for a, d in state.drafts.items() if d.listed)
            if not todo and (account is not None or state.closed):
                break
            # a close of the whole month is recorded even when it issues nothing: the month is
            # closed, so an account loaded later is not billed a plan fee for it
            run = _start(warehouse, month, account or "", todo, clock, step)
            _complete(warehouse, run, step, state.drafts)
        else:
            raise UsageflowError(f"closing {month} did not settle after {MAX_RUNS} runs (are closes racing?)")
    return ledger.issued_with_pending(warehouse, month, account)


def _start(
    warehouse: Warehouse, month: str, scope: str, accounts: Sequence[str], now: datetime, step: StepHook
) -> CloseRun:
    """Write the close record of a new run and return the run as stored (the first record
    written for its seq: a close racing for the same seq follows that one)."""
    runs = ledger.close_runs(warehouse, month)
    seq = max((r.seq for r in runs), default=0) + 1
    first = max((r.last_number for r in runs), default=0) + 1
    run_id = f"{month}/{seq:04d}"
    warehouse.insert_rows(
        "invoice_close_runs",
        [[run_id, month, seq, scope, list(accounts), first, now, _written_at()]],
        ["run_id", "month", "seq", "scope", "accounts", "first_number", "issued_at", "written_at"],
    )
    step("record", 0)
    stored = next(r for r in ledger.close_runs(warehouse, month) if r.seq == seq)
    if stored.accounts:
        stored.number_of(stored.accounts[-1])  # every number fits INV-YYYYMM-NNNNNN, or this raises
    return stored


def _complete(warehouse: Warehouse, run: CloseRun, step: StepHook, computed: dict[str, Draft] | None = None) -> None:
    """Store the invoices of `run` still missing, then mark it complete. `computed`: drafts just
    computed for a run this close started (a run found incomplete computes them now)."""
    held = _stored_accounts(warehouse, run.month, run.accounts)
    missing = [a for a in run.accounts if a not in held]
    if missing:
        if computed is not None and all(a in computed for a in missing):
            drafts = computed
        else:
            drafts = ledger.drafts_of(warehouse, run.month, missing)
        written = 0
        for start in range(0, len(missing), CHUNK):
            chunk = missing[start : start + CHUNK]
            rows = [_row(run, drafts[a]) for a in chunk]
            warehouse.insert_rows("issued_invoices", rows, ISSUED_COLUMNS)
            written += len(chunk)
            step("invoices", written)
    warehouse.insert_rows(
        "invoice_close_done", [[run.run_id, run.month, datetime.now(UTC)]], ["run_id", "month", "completed_at"]
    )
    step("done", 0)


def _stored_accounts(warehouse: Warehouse, month: str, accounts: Sequence[str]) -> set[str]:
    rows = warehouse.query(
        "SELECT DISTINCT account_id FROM issued_invoices WHERE month = {month:String} "
        "AND has({accounts:Array(String)}, account_id)",
        {"month": month, "accounts": list(accounts)},
    )
    return {r["account_id"] for r in rows}


ISSUED_COLUMNS = (
    "month",
    "account_id",
    "number",
    "run_id",
    "issued_at",
    *_TERMS,
    "line_kind",
    "line_amount",
    "line_tokens",
    "line_for_month",
    "charges",
    "adjustments",
    "credits",
    "total",
    "draw_grant_id",
    "draw_amount",
    "written_at",
)


def _row(run: CloseRun, draft: Draft) -> list[Any]:
    invoice, base = draft.invoice, draft.base
    lines = invoice.lines
    credits_line = next((line for line in lines if line.kind == "credits"), None)
    draws = credits_line.draws if credits_line is not None else ()
    values: dict[str, Any] = {
        "month": run.month,
        "account_id": invoice.account_id,
        "number": run.number_of(invoice.account_id),
        "run_id": run.run_id,
        "issued_at": run.issued_at,
        **{k: base[k] for k in _TERMS},
        "line_kind": [line.kind for line in lines],
        "line_amount": [line.amount for line in lines],
        "line_tokens": [line.tokens for line in lines],
        "line_for_month": [line.for_month or "" for line in lines],
        "charges": invoice.charges,
        "adjustments": sum((line.amount for line in lines if line.kind == "adjustment"), Decimal("0.00")),
        "credits": -credits_line.amount if credits_line is not None else Decimal("0.00"),
        "total": invoice.total,
        "draw_grant_id": [g for g, _ in draws],
        "draw_amount": [a for _, a in draws],
        "written_at": _written_at(),
    }
    return [values[c] for c in ISSUED_COLUMNS]


def _written_at() -> datetime:
    return datetime.now(UTC)
