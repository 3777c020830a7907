"""`usageflow invoice`, `report`, `recommend`, `reconcile` (docs/cli.md §3)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer

from usageflow.billing.access import run_query
from usageflow.cli.context import CliContext
from usageflow.cli.output import console, print_json, print_table, write_file
from usageflow.cli.warehouse_check import require_known_account, require_migrated

_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def _month(value: str | None) -> str | None:
    if value is not None and not _MONTH.fullmatch(value):
        raise typer.BadParameter(f"{value!r} is not a month like 2026-11 (YYYY-MM)", param_hint="--month")
    return value


def _growth(value: str) -> str:
    try:
        growth = Decimal(value.strip())
    except InvalidOperation:
        growth = Decimal("NaN")
    if not growth.is_finite() or value != value.strip():
        raise typer.BadParameter(f"{value!r} is not a number like 0.2 (+20%)", param_hint="--growth")
    return value


def _query(ctx: CliContext, name: str, account: str | None = None, **params: Any) -> Any:
    """Run a billing query after checking there is a migrated warehouse and, when one account
    is asked for, that the warehouse knows it."""
    url, data_dir = ctx.warehouse_url(), ctx.paths().data_dir
    require_migrated(url)
    if account is not None:
        require_known_account(url, data_dir, account)
    return run_query(url, data_dir, name, account=account, **params)


def invoice_cmd(
    typer_ctx: typer.Context,
    action: Annotated[
        str | None,
        typer.Argument(
            metavar="close",
            help="close: issue the month's invoices (numbers, issued_at; docs/pricing.md §12) and print them.",
            show_default=False,
        ),
    ] = None,
    month: Annotated[str | None, typer.Option(help="Billing month, YYYY-MM (required).", show_default=False)] = None,
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    fmt: Annotated[str, typer.Option("--format")] = "table",
) -> None:
    """Invoices (docs/pricing.md §6, §12, §13): plan fee, usage, discounts, adjustments, credits, total;
    `invoice close` issues them."""
    if action not in (None, "close"):
        raise typer.BadParameter(
            f"{action!r} is not an action of invoice (the one there is: close)", param_hint="close"
        )
    if month is None:
        raise typer.BadParameter("a billing month is required, e.g. --month 2026-11", param_hint="--month")
    _month(month)
    if action == "close":
        invoices = _close(typer_ctx.obj, month, account)
        if fmt != "json" and not invoices:
            console.print(f"nothing to close for {month}" + (f" and {account}" if account else ""))
            return
    else:
        invoices = _query(typer_ctx.obj, "invoices", month=month, account=account)
    if fmt == "json":
        print_json(invoices)
        return
    print_invoices(invoices, month)


def _close(ctx: CliContext, month: str, account: str | None) -> Any:
    from usageflow.billing.writes import run_write

    url, data_dir = ctx.warehouse_url(), ctx.paths().data_dir
    require_migrated(url)
    if account is not None:
        require_known_account(url, data_dir, account)
    return run_write(url, data_dir, "close", month=month, account=account)


def print_invoices(invoices: list[dict[str, Any]], month: str) -> None:
    rows: list[tuple[str, ...]] = []
    for inv in invoices:
        status = inv.get("number") or inv.get("status", "")
        rows.append((inv["account_id"], inv["plan"], status, "tokens used", f"{inv['tokens']:,}", ""))
        for line in inv["lines"]:
            tokens = f"{line['tokens']:,}" if "tokens" in line else ""
            kind = f"{line['kind']} {line['for_month']}" if "for_month" in line else line["kind"]
            rows.append(("", "", "", kind, tokens, line["amount"]))
        rows.append(("", "", "", "total", "", inv["total"]))
        if "pending_adjustment" in inv:
            rows.append(("", "", "", "pending adjustment", "", inv["pending_adjustment"]))
    print_table(
        f"Invoices {month} ({len(invoices)} account(s), CNY)",
        ["account", "plan", "invoice", "line", "tokens", "amount"],
        rows,
    )


def report_cmd(
    typer_ctx: typer.Context,
    month: Annotated[str, typer.Option(help="Report month, YYYY-MM.")],
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    fmt: Annotated[str, typer.Option("--format")] = "table",
    out: Annotated[Path | None, typer.Option(help="Write to this file (html: required).")] = None,
) -> None:
    """Usage report (docs/pricing.md §7) with breakdowns; html writes one self-contained page."""
    _month(month)
    if fmt == "html" and out is None:
        raise typer.BadParameter("--format html needs --out FILE", param_hint="--out")
    reports = _query(typer_ctx.obj, "report", month=month, account=account)
    if fmt == "json":
        if out:
            import orjson

            write_file(out, orjson.dumps(reports, option=orjson.OPT_INDENT_2))
        else:
            print_json(reports)
        return
    if fmt == "html":
        assert out is not None
        from usageflow.billing.html_report import render_html
        from usageflow.pricing.price_book import load_price_book

        book = load_price_book(typer_ctx.obj.paths().price_book)
        write_file(out, render_html(reports, month, generated_at=datetime.now(UTC), book=book))
        console.print(f"wrote {out}")
        return
    print_table(
        f"Usage report {month}",
        ["account", "plan", "total tokens", "avg daily", "est. monthly", "cost estimate", "invoice", "total"],
        [
            (
                r["account_id"],
                r.get("plan", ""),
                f"{r['total_tokens']:,}",
                r["average_daily"],
                r["estimated_monthly"],
                r["cost_estimate"],
                (r.get("invoice") or {}).get("number") or (r.get("invoice") or {}).get("status", ""),
                (r.get("invoice") or {}).get("total", ""),
            )
            for r in reports
        ],
    )


def recommend_cmd(
    typer_ctx: typer.Context,
    account: Annotated[str, typer.Option(help="The account.")],
    month: Annotated[str | None, typer.Option(help="Base month (default: last full month).")] = None,
    growth: Annotated[str, typer.Option(help="Expected growth, e.g. 0.2 for +20%.")] = "0.2",
    fmt: Annotated[str, typer.Option("--format")] = "table",
) -> None:
    """Plan recommendation (docs/pricing.md §8)."""
    _month(month)
    _growth(growth)
    result = _query(typer_ctx.obj, "recommend", account=account, month=month, growth=growth)
    if fmt == "json":
        print_json(result)
        return
    options = result.get("options", [])
    print_table(
        f"Plan options for {result['account_id']} (projected {result.get('projected_tokens', 0):,} tokens)",
        ["plan", "total"],
        [(o["plan"], o["total"]) for o in options],
    )
    console.print(
        f"recommended: {result['recommended_plan']} (current {result['current_plan']}, saving {result['saving']} CNY)"
    )


def reconcile_cmd(
    typer_ctx: typer.Context,
    month: Annotated[str, typer.Option(help="Billing month, YYYY-MM.")],
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    by_account: Annotated[bool, typer.Option("--by-account", help="One row per account and model.")] = False,
    fmt: Annotated[str, typer.Option("--format")] = "table",
) -> None:
    """Provider cost against billed cost per model (docs/pricing.md §14)."""
    _month(month)
    rows = _query(typer_ctx.obj, "reconcile", month=month, account=account, by_account="1" if by_account else None)
    if fmt == "json":
        print_json(rows)
        return
    head = ["account"] if by_account else []
    print_table(
        f"Reconciliation {month} (CNY; margin over the events with a provider cost)",
        [*head, "model", "tokens", "list cost", "billed", "provider cost", "margin", "without provider cost"],
        [
            (
                *([r["account_id"]] if by_account else []),
                r["model"],
                f"{r['tokens']:,}",
                r["list_cost"],
                r["billed"],
                r["provider_cost"],
                r["margin"],
                f"{r['events_without_provider_cost']:,}",
            )
            for r in rows
        ],
    )


def register(app: typer.Typer) -> None:
    app.command("invoice")(invoice_cmd)
    app.command("report")(report_cmd)
    app.command("recommend")(recommend_cmd)
    app.command("reconcile")(reconcile_cmd)
