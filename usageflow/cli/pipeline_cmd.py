"""`usageflow publish`, `replay`, `accounts load`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

import orjson
import typer
import yaml
from pydantic import ValidationError

from usageflow.cli.context import CliContext
from usageflow.cli.output import console, err_console, print_json
from usageflow.errors import UsageflowError
from usageflow.schemas import Account

if TYPE_CHECKING:
    from usageflow.bus.producer import PublishReport

accounts_app = typer.Typer(help="Manage accounts (plans, discounts, time zones, budgets).")


def _open_input(file: str) -> BinaryIO:
    if file == "-":
        return sys.stdin.buffer
    try:
        return Path(file).open("rb")
    except OSError as exc:
        raise UsageflowError(f"cannot read {file}: {exc.strerror}") from exc


def _lines(handle: BinaryIO) -> Iterator[bytes]:
    yield from handle


def publish_file(ctx: CliContext, file: str, quiet: bool = False) -> PublishReport:
    from usageflow.bus.admin import ensure_topics
    from usageflow.bus.producer import Publisher

    handle = _open_input(file)
    kafka, topics = ctx.kafka(), ctx.topics()
    ensure_topics(kafka, topics)
    publisher = Publisher(kafka, topics)
    source = "stdin" if file == "-" else Path(file).name
    try:
        if sys.stderr.isatty() and not quiet:
            from rich.progress import Progress

            with Progress(console=err_console, transient=True) as bar:
                task = bar.add_task(f"publishing {source}", total=None)
                report = publisher.publish_lines(
                    _lines(handle), f"file:{source}", lambda n: bar.update(task, completed=n)
                )
        else:
            report = publisher.publish_lines(_lines(handle), f"file:{source}")
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()
    return report


def publish_cmd(
    typer_ctx: typer.Context,
    file: Annotated[
        str, typer.Argument(help="JSON-lines UsageEvent v1 (or provider_usage, docs/events.md §2), or - for stdin.")
    ],
    fmt: Annotated[str, typer.Option("--format")] = "table",
) -> None:
    """Publish events; lines that break the contract go to the dead-letter topic and are reported."""
    report = publish_file(typer_ctx.obj, file, quiet=fmt == "json")
    if fmt == "json":
        print_json(
            {
                "lines": report.lines,
                "published": report.published,
                "rejected": report.rejected,
                "rejections": [{"line": n, "reason": r, "message": m} for n, r, m in report.rejections],
            }
        )
        return
    for number, reason, message in report.rejections[:20]:
        err_console.print(f"line {number}: {reason}: {message}", highlight=False, soft_wrap=True)
    if report.rejected > 20:
        err_console.print(f"… and {report.rejected - 20} more rejected lines (see `usageflow dlq list`)")
    console.print(f"published {report.published}, rejected {report.rejected}")


def replay_cmd(
    typer_ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="JSON-lines file of events (or - for stdin).")],
) -> None:
    """Publish the file, process it to completion (warehouse or dead-letter topic), then exit."""
    from usageflow.bus.admin import end_offsets
    from usageflow.cli.stream_cmd import worker_settings
    from usageflow.streams.runner import run_worker

    ctx: CliContext = typer_ctx.obj
    report = publish_file(ctx, file)
    target = end_offsets(ctx.kafka(), ctx.topics().events)
    progress = run_worker(worker_settings(ctx), stop_at_offsets=target)
    console.print(
        f"published {report.published}, rejected {report.rejected}; "
        f"processed {progress.consumed}: stored {progress.stored}, duplicates {progress.duplicates}, "
        f"dead-lettered {progress.dead_lettered}"
    )


def read_accounts(path: Path | Traversable) -> list[Account]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageflowError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = orjson.loads(text) if path.name.endswith(".json") else yaml.safe_load(text)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise UsageflowError(f"{path} is not valid YAML/JSON: {str(exc).splitlines()[0]}") from exc
    if isinstance(data, dict) and "accounts" in data:
        data = data["accounts"]
    if not isinstance(data, list):
        raise UsageflowError(f"{path} must hold a list of accounts")
    accounts = []
    for index, item in enumerate(data):
        try:
            accounts.append(Account.model_validate(item))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise UsageflowError(f"{path}: account #{index + 1}: {where}: {err['msg']}") from exc
    return accounts


@accounts_app.command("load")
def accounts_load(
    typer_ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="YAML or JSON list of accounts (docs/events.md §3).")],
) -> None:
    """Publish accounts to the compacted accounts topic; the worker picks changes up live."""
    from usageflow.bus.admin import ensure_topics
    from usageflow.bus.producer import Publisher

    ctx: CliContext = typer_ctx.obj
    accounts = read_accounts(file)
    kafka, topics = ctx.kafka(), ctx.topics()
    ensure_topics(kafka, topics)
    publisher = Publisher(kafka, topics)
    for account in accounts:
        publisher.publish_account(account.account_id, orjson.dumps(account.model_dump(mode="json")))
    publisher.flush()
    console.print(f"published {len(accounts)} account(s) to {topics.accounts}")


def register(app: typer.Typer) -> None:
    app.command("publish")(publish_cmd)
    app.command("replay")(replay_cmd)
    app.add_typer(accounts_app, name="accounts")
