"""`usageflow bench`: throughput, alert latency and query latency of this machine's usageflow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from usageflow.cli.context import CliContext
from usageflow.cli.output import console, err_console, print_json


def bench_cmd(
    typer_ctx: typer.Context,
    events: Annotated[int, typer.Option(help="Events published once and read by every stream part.")] = 100_000,
    parts: Annotated[
        str, typer.Option(help="Comma-separated: raw,pipeline,peer,alerts,queries (and profile, not by default).")
    ] = "raw,pipeline,peer,alerts,queries",
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    accounts: Annotated[int, typer.Option(help="Accounts in the generated workload.")] = 1000,
    query_rows: Annotated[int, typer.Option(help="Rated rows loaded for the query part (one month).")] = 1_000_000,
    query_runs: Annotated[int, typer.Option(help="Timed runs of each billing query.")] = 20,
    alert_seconds: Annotated[float, typer.Option(help="How long crossing events are sent (one per 200 ms).")] = 30.0,
    alert_load: Annotated[float, typer.Option(help="Background events/s during the alert part.")] = 200.0,
    keep: Annotated[Path | None, typer.Option(help="Copy the run's logs into this directory.")] = None,
) -> None:
    """Measure the real worker against raw Kafka and a Quix Streams peer, alert latency and billing
    queries, on a private broker and fresh warehouses (defaults take a few minutes on 2 cores)."""
    from usageflow.bench import BenchError
    from usageflow.bench.report import print_table
    from usageflow.bench.runner import BenchConfig, run_bench

    ctx: CliContext = typer_ctx.obj
    if fmt not in ("table", "json"):
        raise BenchError(f"--format must be table or json, not {fmt!r}")
    paths = ctx.paths()
    config = BenchConfig(
        events=events,
        parts=tuple(p.strip() for p in parts.split(",") if p.strip()),
        accounts=accounts,
        query_rows=query_rows,
        query_runs=query_runs,
        alert_seconds=alert_seconds,
        alert_load_eps=alert_load,
        bootstrap=ctx.bootstrap,  # only an explicit --bootstrap uses an existing broker
        kafka=ctx.kafka() if ctx.bootstrap else None,
        cache_dir=paths.cache_dir,
        price_book=paths.price_book,
        keep=keep,
    )

    def say(line: str) -> None:
        err_console.print(f"bench: {line}", highlight=False, style="dim")

    result = run_bench(config, say)
    if fmt == "json":
        print_json(result)
    else:
        print_table(result, console)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench_cmd)
