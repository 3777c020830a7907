"""Entry point: global options, one-line errors, and the command groups."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from usageflow.cli import billing_cmd, dlq_cmd, pipeline_cmd, stream_cmd, up_cmd
from usageflow.cli.context import CliContext
from usageflow.cli.output import err_console
from usageflow.errors import UsageflowError

app = typer.Typer(
    name="usageflow",
    help="Usage aggregation and tiered billing for metered LLM APIs (Kafka -> Faust -> ClickHouse).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main_options(
    ctx: typer.Context,
    bootstrap: Annotated[str | None, typer.Option(help="Kafka bootstrap servers (USAGEFLOW_KAFKA_BOOTSTRAP).")] = None,
    warehouse: Annotated[str | None, typer.Option(help="chdb:PATH or clickhouse://… (USAGEFLOW_WAREHOUSE).")] = None,
    topic_prefix: Annotated[str | None, typer.Option(help="Prefix of topics and consumer group.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Local state directory (USAGEFLOW_DATA_DIR).")] = None,
    price_book: Annotated[Path | None, typer.Option(help="Price book file (USAGEFLOW_PRICE_BOOK).")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    ctx.obj = CliContext(bootstrap, warehouse, topic_prefix, data_dir, price_book, debug)
    logging.getLogger("usageflow.librdkafka").setLevel(logging.DEBUG if debug else logging.CRITICAL)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


stream_cmd.register(app)
pipeline_cmd.register(app)
billing_cmd.register(app)
dlq_cmd.register(app)
up_cmd.register(app)


def main() -> None:
    """Run the CLI: usage errors exit 2 (click), UsageflowError -> one line and exit 1."""
    debug = "--debug" in sys.argv
    try:
        app()
    except UsageflowError as exc:
        if debug:
            raise
        _say(f"usageflow: {exc}")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug or an unexpected library error: still one line
        if debug:
            raise
        text = str(exc).strip()
        first = text.splitlines()[0] if text else ""
        _say(f"usageflow: unexpected {type(exc).__name__}: {first} (rerun with --debug)")
        sys.exit(1)


def _say(line: str) -> None:
    err_console.print(line, style="red", highlight=False, soft_wrap=True, markup=False)
