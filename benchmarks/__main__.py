"""`python -m benchmarks` (what `make bench` runs): the real worker against raw Kafka and a Quix
Streams peer, alert latency and billing queries, on a private broker and fresh warehouses."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from benchmarks import BenchError
from benchmarks.report import print_table
from benchmarks.runner import BenchConfig, run_bench
from usageflow.cli.output import print_json
from usageflow.config import KafkaSettings, PathSettings

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def bench(
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
    bootstrap: Annotated[str | None, typer.Option(help="Use this broker instead of a private one.")] = None,
    keep: Annotated[Path | None, typer.Option(help="Copy the run's logs into this directory.")] = None,
) -> None:
    if fmt not in ("table", "json"):
        raise BenchError(f"--format must be table or json, not {fmt!r}")
    paths = PathSettings()
    config = BenchConfig(
        events=events,
        parts=tuple(p.strip() for p in parts.split(",") if p.strip()),
        accounts=accounts,
        query_rows=query_rows,
        query_runs=query_runs,
        alert_seconds=alert_seconds,
        alert_load_eps=alert_load,
        bootstrap=bootstrap,  # only an explicit --bootstrap uses an existing broker
        kafka=KafkaSettings(bootstrap=bootstrap) if bootstrap else None,
        cache_dir=paths.cache_dir,
        price_book=paths.price_book,
        keep=keep,
    )
    progress = Console(stderr=True)
    result = run_bench(config, lambda line: progress.print(f"bench: {line}", highlight=False, style="dim"))
    if fmt == "json":
        print_json(result)
    else:
        print_table(result, Console())


def main() -> None:
    try:
        app()
    except BenchError as exc:
        Console(stderr=True).print(f"bench: {exc}", style="red", markup=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
