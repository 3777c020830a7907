"""`usageflow credits grant | balance` (docs/cli.md §3, docs/pricing.md §13)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from usageflow.billing.access import run_query
from usageflow.cli.context import CliContext
from usageflow.cli.output import console, print_json, print_table
from usageflow.cli.warehouse_check import require_known_account, require_migrated

credits_app = typer.Typer(help="Prepaid credits: record grants, show what each still holds.")


def _checked(ctx: CliContext, account: str) -> tuple[str, Any]:
    url, data_dir = ctx.warehouse_url(), ctx.paths().data_dir
    require_migrated(url)
    require_known_account(url, data_dir, account)
    return url, data_dir


@credits_app.command("grant")
def grant_cmd(
    typer_ctx: typer.Context,
    account: Annotated[str, typer.Option(help="The account the credits belong to.")],
    amount: Annotated[str, typer.Option(help="CNY, at most 2 decimals, e.g. 100 or 75.50.")],
    grant_id: Annotated[str, typer.Option("--id", help="The grant's id: granting the same id again changes nothing.")],
    expires: Annotated[
        str | None, typer.Option(help="Last day the credits pay, YYYY-MM-DD (default: never expire).")
    ] = None,
    priority: Annotated[int, typer.Option(help="Draw order: the lowest number is drawn first.")] = 0,
    fmt: Annotated[str, typer.Option("--format")] = "table",
) -> None:
    """Record a grant of prepaid credits (idempotent by --id)."""
    from usageflow.billing.credits import check_id, parse_amount, parse_expiry
    from usageflow.billing.writes import run_write
    from usageflow.errors import UsageflowError

    for hint, check in (
        ("--id", lambda: check_id("--id", grant_id)),
        ("--amount", lambda: parse_amount(amount)),
        ("--expires", lambda: parse_expiry(expires)),
    ):
        try:  # bad values are usage errors (exit 2), found before anything is opened
            check()
        except UsageflowError as exc:
            raise typer.BadParameter(str(exc), param_hint=hint) from None
    url, data_dir = _checked(typer_ctx.obj, account)
    result = run_write(
        url, data_dir, "grant", grant_id=grant_id, account=account, amount=amount, expires=expires, priority=priority
    )
    if fmt == "json":
        print_json(result)
        return
    expiry = f"expires {result['expires']}" if result["expires"] else "never expires"
    what = "granted" if result["created"] else "already granted (unchanged)"
    console.print(
        f"{result['grant_id']}: {what}: {result['amount']} CNY to {result['account_id']}, "
        f"{expiry}, priority {result['priority']}",
        highlight=False,
    )


@credits_app.command("balance")
def balance_cmd(
    typer_ctx: typer.Context,
    account: Annotated[str, typer.Option(help="The account.")],
    fmt: Annotated[str, typer.Option("--format")] = "table",
) -> None:
    """Each grant of the account with what it still holds, in the order they are drawn."""
    url, data_dir = _checked(typer_ctx.obj, account)
    grants = run_query(url, data_dir, "credits_balance", account=account)
    if fmt == "json":
        print_json(grants)
        return
    print_table(
        f"Prepaid credits of {account} (CNY, in draw order)",
        ["grant", "amount", "remaining", "expires", "priority"],
        [(g["grant_id"], g["amount"], g["remaining"], g["expires"] or "never", g["priority"]) for g in grants],
    )


def register(app: typer.Typer) -> None:
    app.add_typer(credits_app, name="credits")
