"""`usageflow rerate` (docs/cli.md): re-price a month's stored events with the current price book."""

from __future__ import annotations

from typing import Annotated

import typer

from usageflow.cli.billing_cmd import _month
from usageflow.cli.context import CliContext
from usageflow.cli.output import console, print_json
from usageflow.cli.warehouse_check import require_migrated


def rerate_cmd(
    typer_ctx: typer.Context,
    month: Annotated[str, typer.Option(help="Billing month to re-price, YYYY-MM.")],
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Re-price the month's stored events with the current price book (docs/pricing.md §11).
    Safe to repeat and to re-run after an interruption; a running worker does it between batches."""
    from usageflow.streams.rerate import run_rerate

    _month(month)
    ctx: CliContext = typer_ctx.obj
    url, paths = ctx.warehouse_url(), ctx.paths()
    require_migrated(url)
    result = run_rerate(url, paths.data_dir, paths.price_book, month, account, ctx.kafka(), ctx.topics())
    if fmt == "json":
        print_json(result)
        return
    console.print(
        f"rerate {month}{' ' + account if account else ''}: {result['events']} event(s), "
        f"{result['repriced']} re-priced, {result['unchanged']} unchanged"
        + (
            f", {result['unpriceable']} left as they were (no price in the current book)"
            if result["unpriceable"]
            else ""
        )
    )


def register(app: typer.Typer) -> None:
    app.command("rerate")(rerate_cmd)
