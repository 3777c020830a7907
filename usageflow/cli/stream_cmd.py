"""`usageflow kafka …`, `migrate`, `worker`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from usageflow.cli.context import CliContext
from usageflow.cli.output import console, print_json
from usageflow.errors import ConfigError

if TYPE_CHECKING:
    from usageflow.broker.local import LocalKafka
    from usageflow.streams.runner import WorkerSettings

kafka_app = typer.Typer(help="Run a local single-node Apache Kafka broker (KRaft) from pinned jars.")


def _local_kafka(ctx: CliContext, port: int | None = None) -> LocalKafka:
    from usageflow.broker.local import LocalKafka

    paths = ctx.paths()
    if port is None:
        port = _bootstrap_port(ctx.kafka().bootstrap)
    return LocalKafka(data_dir=paths.data_dir, cache_dir=paths.cache_dir, port=port)


def _bootstrap_port(bootstrap: str) -> int:
    """The port of the first bootstrap server (the local broker listens there)."""
    first = bootstrap.split(",", maxsplit=1)[0].strip()
    text = first.rsplit(":", 1)[-1] if ":" in first else ""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ConfigError(f"cannot tell the local broker's port from the bootstrap {bootstrap!r}: give --port")
    return int(text)


@kafka_app.command("start")
def kafka_start(
    typer_ctx: typer.Context,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Listener port (default: from the bootstrap setting).")
    ] = None,
) -> None:
    """Start the broker; returns once a client can create a topic, and prints the bootstrap."""
    broker = _local_kafka(typer_ctx.obj, port)
    with console.status("starting Kafka (the first start downloads the broker jars)…"):
        bootstrap = broker.start()
    print(bootstrap)


@kafka_app.command("stop")
def kafka_stop(typer_ctx: typer.Context) -> None:
    """Stop the local broker cleanly; no process is left behind."""
    stopped = _local_kafka(typer_ctx.obj).stop()
    console.print("stopped" if stopped else "not running")


@kafka_app.command("status")
def kafka_status(
    typer_ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format")] = "table",
) -> None:
    """Is the local broker running, where, which version."""
    status = _local_kafka(typer_ctx.obj).status()
    data = {
        "running": status.running,
        "pid": status.pid,
        "bootstrap": status.bootstrap,
        "version": status.version,
        "data_dir": str(status.data_dir),
    }
    if fmt == "json":
        print_json(data)
    else:
        state = "running" if status.running else "stopped"
        console.print(f"Kafka {status.version} {state} at {status.bootstrap} (pid {status.pid or '-'})")
    if not status.running:
        raise typer.Exit(3)


def migrate_cmd(typer_ctx: typer.Context) -> None:
    """Apply sql/ to the warehouse and load the price book; safe to run again."""
    from usageflow.billing.tables import load_price_book as load_price_tables
    from usageflow.pricing.price_book import load_price_book
    from usageflow.warehouse import open_warehouse
    from usageflow.warehouse.migrate import migrate

    ctx: CliContext = typer_ctx.obj
    book = load_price_book(ctx.paths().price_book)
    warehouse = open_warehouse(ctx.warehouse_url())
    try:
        applied = migrate(warehouse)
        load_price_tables(warehouse, book)
    finally:
        warehouse.close()
    if applied:
        console.print(f"applied {len(applied)} migration(s): {', '.join(applied)}")
    else:
        console.print("warehouse is up to date")


def worker_cmd(
    typer_ctx: typer.Context,
    loglevel: Annotated[str, typer.Option(help="Log level of the worker.")] = "WARNING",
) -> None:
    """Run the stream processor until SIGTERM/Ctrl-C (it flushes before it stops)."""
    from usageflow.streams.runner import run_worker

    ctx: CliContext = typer_ctx.obj
    run_worker(worker_settings(ctx, loglevel))


def worker_settings(ctx: CliContext, loglevel: str = "WARNING") -> WorkerSettings:
    from usageflow.streams.runner import WorkerSettings

    return WorkerSettings(
        kafka=ctx.kafka(),
        topics=ctx.topics(),
        stream=ctx.stream(),
        paths=ctx.paths(),
        warehouse_url=ctx.warehouse_url(),
        loglevel=loglevel,
    )


def status_cmd(
    typer_ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format")] = "table",
) -> None:
    """The running worker at a glance: lag, throughput, last flush, counts, recent alerts."""
    from usageflow.billing.access import worker_status

    ctx: CliContext = typer_ctx.obj
    status = worker_status(ctx.paths().data_dir)
    if fmt == "json":
        print_json(status)
        return
    lag = status.get("lag", {})
    console.print(
        f"worker {status['url']} (pid {status['pid']}), warehouse {status.get('warehouse')}\n"
        f"  lag {sum(lag.values()):,} records  "
        + " ".join(f"p{p}={n:,}" for p, n in sorted(lag.items(), key=lambda kv: int(kv[0])))
        + f"\n  throughput {status.get('events_per_s', 0):,} events/s, last flush {status.get('last_flush_at')}"
        f" ({status.get('last_flush_s')} s)\n"
        f"  consumed {status['consumed']:,}, stored {status['stored']:,}, duplicates {status['duplicates']:,}, "
        f"dead-lettered {status['dead_lettered']:,}, late {status['late']:,}, alerts {status['alerts']:,}",
        highlight=False,
    )
    if status.get("warehouse_failing_since"):
        console.print("  [red]warehouse writes are failing; the worker is retrying and holding its offsets[/red]")


def register(app: typer.Typer) -> None:
    app.command("status")(status_cmd)
    app.add_typer(kafka_app, name="kafka")
    app.command("migrate")(migrate_cmd)
    app.command("worker")(worker_cmd)
