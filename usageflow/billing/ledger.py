"""Reading the billing cycle's state from the warehouse: closes, issued invoices, pending
adjustments, grants and their draws; and the invoices of a month as `usageflow invoice` shows
them (issued ones as stored, drafts with their adjustments and credits).

The rules are in usageflow.billing.cycle; the arithmetic of a month's own lines is the SQL of
invoice_base_for (drafts) and invoice_revisions (issued months priced again).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from usageflow.billing import cycle
from usageflow.billing.model import Invoice, InvoiceLine, money
from usageflow.billing.queries import invoice_from_row
from usageflow.pricing.credits import Grant, GrantBalance
from usageflow.warehouse.client import Warehouse

BASE_COLUMNS = (
    "account_id, month, currency, plan, is_payg, tokens, billable_tokens, list_cost, events, quota, fee, "
    "prepaid, contract, educational, prepaid_factor, contract_factor, educational_factor, "
    "tier_starts, tier_ends, tier_multipliers, amount_plan_fee, amount_usage, amount_discount_prepaid, "
    "amount_discount_contract, amount_discount_educational, total"
)


@dataclass(frozen=True, slots=True)
class CloseRun:
    run_id: str
    month: str
    seq: int
    scope: str
    accounts: tuple[str, ...]
    first_number: int
    last_number: int
    issued_at: datetime
    complete: bool

    def number_of(self, account_id: str) -> str:
        return cycle.invoice_number(self.month, self.first_number + self.accounts.index(account_id))


@dataclass(frozen=True, slots=True)
class Draft:
    """A draft invoice and the invoice_base_for row it was made from (the terms a close keeps)."""

    invoice: Invoice
    base: dict[str, Any]
    listed: bool  # whether the month's invoices include it without asking for the account


@dataclass
class MonthState:
    month: str
    closed: bool
    issued: dict[str, Invoice]
    drafts: dict[str, Draft]

    def invoices(self) -> list[Invoice]:
        found = {**{a: d.invoice for a, d in self.drafts.items()}, **self.issued}
        return [found[a] for a in sorted(found)]


def close_runs(warehouse: Warehouse, month: str | None = None) -> list[CloseRun]:
    rows = warehouse.query(
        "SELECT run_id, month, seq, scope, accounts, first_number, last_number, issued_at, complete "
        "FROM invoice_closes WHERE {month:String} = '' OR month = {month:String} ORDER BY written_at, month, seq",
        {"month": month or ""},
    )
    return [
        CloseRun(
            run_id=r["run_id"],
            month=r["month"],
            seq=int(r["seq"]),
            scope=r["scope"],
            accounts=tuple(r["accounts"]),
            first_number=int(r["first_number"]),
            last_number=int(r["last_number"]),
            issued_at=_utc(r["issued_at"]),
            complete=bool(r["complete"]),
        )
        for r in rows
    ]


def closed_months(warehouse: Warehouse) -> set[str]:
    rows = warehouse.query("SELECT DISTINCT month FROM invoice_closes WHERE complete = 1 AND scope = ''")
    return {r["month"] for r in rows}


def issued_invoices(warehouse: Warehouse, month: str, accounts: Sequence[str] | None = None) -> dict[str, Invoice]:
    """The issued invoices of `month` (of complete closes), by account."""
    rows = warehouse.query(
        "SELECT * FROM invoices_issued WHERE month = {month:String} "
        "AND (empty({accounts:Array(String)}) OR has({accounts:Array(String)}, account_id))",
        {"month": month, "accounts": list(accounts or [])},
    )
    return {r["account_id"]: issued_from_row(r) for r in rows}


def issued_from_row(r: dict[str, Any]) -> Invoice:
    draws = tuple(zip(r["draw_grant_id"], (money(a) for a in r["draw_amount"]), strict=True))
    lines = []
    for kind, amount, tokens, for_month in zip(
        r["line_kind"], r["line_amount"], r["line_tokens"], r["line_for_month"], strict=True
    ):
        lines.append(
            InvoiceLine(
                kind,
                money(amount),
                None if tokens is None else int(tokens),
                for_month or None,
                draws if kind == "credits" else (),
            )
        )
    return Invoice(
        account_id=r["account_id"],
        month=r["month"],
        plan=r["plan"],
        tokens=int(r["tokens"]),
        billable_tokens=int(r["billable_tokens"]),
        lines=tuple(lines),
        total=money(r["total"]),
        currency=r["currency"],
        status="issued",
        number=r["number"],
        issued_at=_utc(r["issued_at"]),
    )


def pending_adjustments(warehouse: Warehouse, account: str | None = None) -> dict[tuple[str, str], Decimal]:
    """(account, issued month) -> the difference not carried yet, for every issued invoice whose
    month's usage changed since (invoice_revisions)."""
    rows = warehouse.query(
        "SELECT account_id, month, pending FROM invoice_revisions "
        "WHERE pending != 0 AND ({account:String} = '' OR account_id = {account:String})",
        {"account": account or ""},
    )
    return {(r["account_id"], r["month"]): money(r["pending"]) for r in rows}


def issued_months(warehouse: Warehouse, accounts: Iterable[str]) -> dict[str, set[str]]:
    wanted = sorted(set(accounts))
    if not wanted:
        return {}
    rows = warehouse.query(
        "SELECT account_id, groupUniqArray(month) AS months FROM invoices_issued "
        "WHERE has({accounts:Array(String)}, account_id) GROUP BY account_id",
        {"accounts": wanted},
    )
    return {r["account_id"]: set(r["months"]) for r in rows}


def grant_balances(warehouse: Warehouse, accounts: Iterable[str] | None = None) -> dict[str, list[GrantBalance]]:
    """Every grant (of `accounts`, or all) with what issued invoices drew from it, per month."""
    wanted = sorted(set(accounts)) if accounts is not None else []
    if accounts is not None and not wanted:
        return {}
    params = {"accounts": wanted}
    where = "WHERE empty({accounts:Array(String)}) OR has({accounts:Array(String)}, account_id)"
    grants = warehouse.query(
        f"SELECT grant_id, account_id, amount, expires, priority, granted_at FROM credit_grants_current {where}",
        params,
    )
    draws = warehouse.query(
        f"SELECT grant_id, month, sum(amount) AS drawn FROM credit_draws {where} GROUP BY grant_id, month",
        params,
    )
    by_grant: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for d in draws:
        by_grant[d["grant_id"]][d["month"]] = money(d["drawn"])
    out: dict[str, list[GrantBalance]] = defaultdict(list)
    for g in grants:
        grant = Grant(
            grant_id=g["grant_id"],
            account_id=g["account_id"],
            amount=money(g["amount"]),
            expires=g["expires"],
            priority=int(g["priority"]),
            granted_at=_utc(g["granted_at"]),
        )
        out[grant.account_id].append(GrantBalance(grant, by_grant.get(grant.grant_id, {})))
    return dict(out)


def base_rows(warehouse: Warehouse, month: str, account: str = "") -> list[dict[str, Any]]:
    """invoice_base_for of `month`, every account (or one), with the terms columns."""
    return warehouse.query(
        f"SELECT {BASE_COLUMNS} FROM invoice_base_for(month_from = {{month:String}}, month_to = {{month:String}}, "
        "account = {account:String}) ORDER BY account_id",
        {"month": month, "account": account},
    )


def month_state(warehouse: Warehouse, month: str, account: str | None = None) -> MonthState:
    """Issued invoices and drafts of `month` (one account, or all).

    Drafts: in an open month, every invoice invoice_base_for lists (and, asked for one account,
    that account's even if unlisted), plus the accounts whose adjustments this month carries;
    in a month closed as a whole, only accounts with usage and no issued invoice (their events
    arrived after the close: closing the month again issues them)."""
    scope = [account] if account else None
    closed_set = closed_months(warehouse)
    closed = month in closed_set
    pending = pending_adjustments(warehouse, account)
    carried = _carried(warehouse, month, pending, closed_set)
    issued = {a: cycle.with_pending(inv, pending) for a, inv in issued_invoices(warehouse, month, scope).items()}
    rows = _rows_with(warehouse, month, account or "", set(carried) - set(issued))
    candidates = {}
    for account_id, row in rows.items():
        if account_id in issued or (closed and int(row["events"]) == 0):
            continue
        candidates[account_id] = (row, int(row["events"]) > 0 or not row["is_payg"] or account_id in carried)
    drafts = _drafts(warehouse, candidates, carried)
    return MonthState(month=month, closed=closed, issued=issued, drafts=drafts)


def drafts_of(warehouse: Warehouse, month: str, accounts: Sequence[str]) -> dict[str, Draft]:
    """The drafts of exactly these accounts for `month`, whatever the listing rules (a close
    completing its recorded run)."""
    pending = {k: v for k, v in pending_adjustments(warehouse).items() if k[0] in set(accounts)}
    carried = _carried(warehouse, month, pending, closed_months(warehouse))
    rows = _rows_with(warehouse, month, "", set(accounts))
    return _drafts(warehouse, {a: (rows[a], True) for a in accounts}, carried)


def _carried(
    warehouse: Warehouse, month: str, pending: dict[tuple[str, str], Decimal], closed_set: set[str]
) -> dict[str, list[tuple[str, Decimal]]]:
    months_of = issued_months(warehouse, {a for a, _ in pending})
    return cycle.adjustments_for(month, pending, months_of, closed_set)


def _rows_with(warehouse: Warehouse, month: str, account: str, extra: set[str]) -> dict[str, dict[str, Any]]:
    """invoice_base_for rows of the month (all accounts, or `account`), plus those of `extra`."""
    rows = {r["account_id"]: r for r in base_rows(warehouse, month, account)}
    missing = sorted(extra - set(rows))
    if missing and not account:  # not listed for the month: no usage in it, and not on a plan
        idle = {r["account_id"]: r for r in idle_rows(warehouse, month, missing)}
        rows.update({a: r for a, r in idle.items() if r["is_payg"]})
    for other in sorted(extra - set(rows)):
        rows.update({r["account_id"]: r for r in base_rows(warehouse, month, other)})
    return rows


def idle_rows(warehouse: Warehouse, month: str, accounts: Sequence[str]) -> list[dict[str, Any]]:
    """The invoice_base_for rows of accounts without usage in `month`, in one query (asking
    invoice_base_for account by account costs ~0.2 s each): their terms, zero usage, and the
    lines of zero usage computed with the same SQL functions (denominator 1, subtotal = fee)."""
    return warehouse.query(
        "SELECT * EXCEPT (discounts) FROM (SELECT k.account_id AS account_id, {month:String} AS month, "
        "b.currency AS currency, t.plan AS plan, "
        "t.is_payg AS is_payg, toUInt64(0) AS tokens, toUInt64(0) AS billable_tokens, "
        "toDecimal128(0, 12) AS list_cost, toUInt64(0) AS events, t.quota AS quota, t.fee AS fee, "
        "t.prepaid AS prepaid, t.contract AS contract, t.educational AS educational, "
        "t.prepaid_factor AS prepaid_factor, t.contract_factor AS contract_factor, "
        "t.educational_factor AS educational_factor, b.tier_starts AS tier_starts, b.tier_ends AS tier_ends, "
        "b.tier_multipliers AS tier_multipliers, "
        "if(t.is_payg = 1, toDecimal128(0, 2), CAST(round(t.fee, 2) AS Decimal(38, 2))) AS amount_plan_fee, "
        "usageflow_fen_v1(toDecimal256(0, 18), toDecimal256(1, 0)) AS amount_usage, "
        "usageflow_discounts_v1(toDecimal256(t.fee, 15), toDecimal256(1, 0), t.prepaid, t.contract, "
        "t.educational, t.prepaid_factor, t.contract_factor, t.educational_factor) AS discounts, "
        "discounts.1 AS amount_discount_prepaid, discounts.2 AS amount_discount_contract, "
        "discounts.3 AS amount_discount_educational, amount_plan_fee + amount_usage + amount_discount_prepaid "
        "+ amount_discount_contract + amount_discount_educational AS total "
        "FROM (SELECT arrayJoin({accounts:Array(String)}) AS account_id, "
        "if(account_id IN (SELECT account_id FROM account_terms), account_id, '') AS terms_key) AS k "
        "INNER JOIN billing_terms AS t ON t.account_id = k.terms_key "
        # the terms of the price version that bills the month, as invoice_base_for picks them
        "LEFT JOIN price_month_versions AS s ON s.timezone = t.billing_tz "
        "INNER JOIN price_book AS b ON b.version = t.version "
        "WHERE t.version = usageflow_month_version_v1(s.starts, {month:String}, "
        "(SELECT min(version) FROM price_book))) "
        "ORDER BY account_id",
        {"month": month, "accounts": list(accounts)},
    )


def issued_with_pending(warehouse: Warehouse, month: str, account: str | None = None) -> list[Invoice]:
    """The issued invoices of `month` (of one account, or all) with their pending adjustments."""
    pending = pending_adjustments(warehouse, account)
    issued = issued_invoices(warehouse, month, [account] if account else None)
    return [cycle.with_pending(issued[a], pending) for a in sorted(issued)]


def _drafts(
    warehouse: Warehouse,
    candidates: dict[str, tuple[dict[str, Any], bool]],
    carried: dict[str, list[tuple[str, Decimal]]],
) -> dict[str, Draft]:
    balances = grant_balances(warehouse, candidates)
    return {
        account_id: Draft(
            cycle.draft(invoice_from_row(row), carried.get(account_id, ()), balances.get(account_id, ())),
            row,
            listed,
        )
        for account_id, (row, listed) in candidates.items()
    }


def month_invoices(warehouse: Warehouse, month: str, account: str | None = None) -> list[Invoice]:
    """The invoices of `month` as `usageflow invoice --month` prints them, by account id."""
    return month_state(warehouse, month, account).invoices()


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
