"""Entry point: global options, one-line errors, and the command groups.

Exit status (docs/cli.md §1): 0 success, 2 bad usage, 1 a failure explained in one line
(a traceback only with --debug), 130 interrupted.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

import usageflow
from usageflow.cli import (
    alerts_cmd,
    billing_cmd,
    credits_cmd,
    dlq_cmd,
    pipeline_cmd,
    rerate_cmd,
    sample_cmd,
    stream_cmd,
    up_cmd,
    vocabulary,
    windows_cmd,
)
from usageflow.cli.clicklib import click
from usageflow.cli.context import CliContext
from usageflow.cli.output import configure_logging, err_console
from usageflow.errors import UsageflowError

app = typer.Typer(
    name="usageflow",
    help="Usage aggregation and tiered billing for metered LLM APIs (Kafka -> Faust -> ClickHouse). "
    "Commands and options: docs/cli.md.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        print(f"usageflow {usageflow.__version__}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    ctx: typer.Context,
    bootstrap: Annotated[str | None, typer.Option(help="Kafka bootstrap servers (USAGEFLOW_KAFKA_BOOTSTRAP).")] = None,
    warehouse: Annotated[str | None, typer.Option(help="chdb:PATH or clickhouse://… (USAGEFLOW_WAREHOUSE).")] = None,
    topic_prefix: Annotated[
        str | None, typer.Option(help="Prefix of topics and consumer group (USAGEFLOW_TOPIC_PREFIX).")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Local state directory (USAGEFLOW_DATA_DIR).")] = None,
    price_book: Annotated[Path | None, typer.Option(help="Price book file (USAGEFLOW_PRICE_BOOK).")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and client logs.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the installed version and exit.", callback=_print_version, is_eager=True),
    ] = False,
) -> None:
    ctx.obj = CliContext(bootstrap, warehouse, topic_prefix, data_dir, price_book, debug)
    configure_logging(debug)


stream_cmd.register(app)
pipeline_cmd.register(app)
billing_cmd.register(app)
rerate_cmd.register(app)
credits_cmd.register(app)
app.add_typer(dlq_cmd.dlq_app, name="dlq")
alerts_cmd.register(app)
windows_cmd.register(app)
sample_cmd.register(app)
up_cmd.register(app)


vocabulary.apply(app, main_options)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and turn every failure into one line on stderr and an exit status."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        code = app(args=args, prog_name="usageflow", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx is not None else exc.format_message())
        sys.exit(2)
    except click.exceptions.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "usageflow"
        _say(f"{where}: {_one_line(exc.format_message())} (see {where} --help)")
        sys.exit(2)
    except click.exceptions.ClickException as exc:  # e.g. a file argument that does not exist
        _say(f"usageflow: {_one_line(exc.format_message())}")
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except UsageflowError as exc:
        if debug:
            raise
        _say(f"usageflow: {_one_line(str(exc))}")
        sys.exit(1)
    except Exception as exc:  # a bug or an unexpected library error: still one line
        if debug:
            raise
        _say(f"usageflow: unexpected {type(exc).__name__}: {_one_line(str(exc))} (rerun with --debug)")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def _say(line: str) -> None:
    err_console.print(line, style="red", highlight=False, soft_wrap=True, markup=False)
