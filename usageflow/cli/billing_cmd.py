"""`usageflow invoice`, `report`, `recommend` (cli.md)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from usageflow.billing.access import run_query
from usageflow.cli.context import CliContext
from usageflow.cli.output import console, print_json, print_table
from usageflow.errors import UsageflowError

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _month(value: str | None) -> str | None:
    if value is not None and not _MONTH.match(value):
        raise typer.BadParameter("month must look like YYYY-MM", param_hint="--month")
    return value


def _format(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise typer.BadParameter(f"must be one of {', '.join(allowed)}", param_hint="--format")
    return value


def _query(ctx: CliContext, name: str, **params: Any) -> Any:
    return run_query(ctx.warehouse_url(), ctx.paths().data_dir, name, **params)


def invoice_cmd(
    typer_ctx: typer.Context,
    month: Annotated[str, typer.Option(help="Billing month, YYYY-MM.")],
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Invoices of pricing.md §6: plan fee, usage, discounts, total."""
    _month(month)
    _format(fmt, ("table", "json"))
    invoices = _query(typer_ctx.obj, "invoices", month=month, account=account)
    if fmt == "json":
        print_json(invoices)
        return
    print_invoices(invoices, month)


def print_invoices(invoices: list[dict[str, Any]], month: str) -> None:
    rows: list[tuple[str, ...]] = []
    for inv in invoices:
        rows.append((inv["account_id"], inv["plan"], "tokens used", f"{inv['tokens']:,}", ""))
        for line in inv["lines"]:
            tokens = f"{line['tokens']:,}" if "tokens" in line else ""
            rows.append(("", "", line["kind"], tokens, line["amount"]))
        rows.append(("", "", "total", "", inv["total"]))
    print_table(
        f"Invoices {month} ({len(invoices)} account(s), CNY)", ["account", "plan", "line", "tokens", "amount"], rows
    )


def report_cmd(
    typer_ctx: typer.Context,
    month: Annotated[str, typer.Option(help="Report month, YYYY-MM.")],
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or html")] = "table",
    out: Annotated[Path | None, typer.Option(help="Write to this file (html: required).")] = None,
) -> None:
    """Usage report of pricing.md §7 with breakdowns; html writes one self-contained page."""
    _month(month)
    _format(fmt, ("table", "json", "html"))
    reports = _query(typer_ctx.obj, "report", month=month, account=account)
    if fmt == "json":
        if out:
            import orjson

            out.write_bytes(orjson.dumps(reports, option=orjson.OPT_INDENT_2))
        else:
            print_json(reports)
        return
    if fmt == "html":
        if out is None:
            raise UsageflowError("--format html needs --out FILE")
        from usageflow.billing.html_report import render_html
        from usageflow.pricing.price_book import load_price_book

        book = load_price_book(typer_ctx.obj.paths().price_book)
        out.write_text(render_html(reports, month, generated_at=datetime.now(UTC), book=book), encoding="utf-8")
        console.print(f"wrote {out}")
        return
    print_table(
        f"Usage report {month}",
        ["account", "plan", "total tokens", "avg daily", "est. monthly", "cost estimate"],
        [
            (
                r["account_id"],
                r.get("plan", ""),
                f"{r['total_tokens']:,}",
                r["average_daily"],
                r["estimated_monthly"],
                r["cost_estimate"],
            )
            for r in reports
        ],
    )


def recommend_cmd(
    typer_ctx: typer.Context,
    account: Annotated[str, typer.Option(help="The account.")],
    month: Annotated[str | None, typer.Option(help="Base month (default: last full month).")] = None,
    growth: Annotated[str, typer.Option(help="Expected growth, e.g. 0.2 for +20%.")] = "0.2",
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Plan recommendation of pricing.md §8."""
    _month(month)
    _format(fmt, ("table", "json"))
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


def register(app: typer.Typer) -> None:
    app.command("invoice")(invoice_cmd)
    app.command("report")(report_cmd)
    app.command("recommend")(recommend_cmd)
