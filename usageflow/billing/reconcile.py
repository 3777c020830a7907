"""Reconciliation (docs/pricing.md §14): per model, and per account on request, what was billed
against what the upstream provider charged. The arithmetic is in the views
`reconcile_accounts_for` and `reconcile_for` (sql/views/); this module passes the month and
the account as server-side parameters and turns rows into records.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from usageflow.billing.model import money, money_str
from usageflow.billing.queries import _month
from usageflow.warehouse.client import Warehouse

_COLUMNS = (
    "model, tokens, amount_list_cost, billed, amount_provider_cost, margin, events_without_provider_cost, "
    "events, billed_with_provider_cost"
)


@dataclass(frozen=True, slots=True)
class ReconcileRow:
    """One model's month (of one account when `account_id` is set). `billed` is the model's share
    of the usage lines, `billed_with_provider_cost` the part of it on events carrying a provider
    cost, `margin` = that part − `provider_cost`."""

    model: str
    tokens: int
    list_cost: Decimal
    billed: Decimal
    provider_cost: Decimal
    margin: Decimal
    events_without_provider_cost: int
    events: int = 0
    billed_with_provider_cost: Decimal = Decimal("0.00")
    account_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The shape of docs/cli.md §4 (`account_id` first, with --by-account)."""
        head: dict[str, Any] = {} if self.account_id is None else {"account_id": self.account_id}
        return {
            **head,
            "model": self.model,
            "tokens": self.tokens,
            "list_cost": money_str(self.list_cost),
            "billed": money_str(self.billed),
            "provider_cost": money_str(self.provider_cost),
            "margin": money_str(self.margin),
            "events_without_provider_cost": self.events_without_provider_cost,
        }


def reconcile(
    warehouse: Warehouse, month: str, account_id: str | None = None, by_account: bool = False
) -> list[ReconcileRow]:
    """Rows of `month` ('YYYY-MM') for every account or `account_id`: one per model (sorted by
    model), or one per account and model (sorted by account, then model) with `by_account`."""
    params = {"month": _month(month), "account": account_id or ""}
    if by_account:
        rows = warehouse.query(
            f"SELECT account_id, {_COLUMNS} FROM reconcile_accounts_for(month = {{month:String}}, "
            "account = {account:String}) ORDER BY account_id, model",
            params,
        )
    else:
        rows = warehouse.query(
            f"SELECT {_COLUMNS} FROM reconcile_for(month = {{month:String}}, account = {{account:String}}) "
            "ORDER BY model",
            params,
        )
    return [
        ReconcileRow(
            model=r["model"],
            tokens=int(r["tokens"]),
            list_cost=money(r["amount_list_cost"]),
            billed=money(r["billed"]),
            provider_cost=money(r["amount_provider_cost"]),
            margin=money(r["margin"]),
            events_without_provider_cost=int(r["events_without_provider_cost"]),
            events=int(r["events"]),
            billed_with_provider_cost=money(r["billed_with_provider_cost"]),
            account_id=r.get("account_id"),
        )
        for r in rows
    ]
