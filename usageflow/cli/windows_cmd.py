"""`usageflow windows`: read the windows topic (WindowAggregate v1), once or following it — also
the example of a consumer of the stream's windows.

A consumer keeps, per `window_id`, the record with the highest `revision` (the later one on a
tie, which is also what compaction keeps). Without `--follow` this command reads the topic to its
end and prints each window once, as such a consumer holds it; with `--follow` it prints every
record as it arrives (a window's revisions one after another) until stopped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Annotated, Any

import orjson
import typer

from usageflow.cli.alerts_cmd import _stop_on_sigterm
from usageflow.cli.context import CliContext
from usageflow.cli.output import console, err_console, print_jsonl, print_table, stream_json_array

COLUMNS = (
    "window_start",
    "granularity",
    "account_id",
    "api_key_id",
    "model",
    "requests",
    "total_tokens",
    "list_cost",
    "revision",
)
GRANULARITIES = ("1m", "1h", "1d")


def windows_cmd(
    typer_ctx: typer.Context,
    from_beginning: Annotated[bool, typer.Option("--from-beginning", help="Read the whole topic.")] = False,
    follow: Annotated[bool, typer.Option("--follow", help="Keep printing new records until stopped.")] = False,
    account: Annotated[str | None, typer.Option("--account", help="Only this account's windows.")] = None,
    granularity: Annotated[str | None, typer.Option("--granularity", help="Only 1m, 1h or 1d windows.")] = None,
    fmt: Annotated[str, typer.Option("--format")] = "table",
) -> None:
    """Read the windows topic; without --follow, stop at its end and show each window's highest revision."""
    from usageflow.bus.reader import read_topic

    if granularity is not None and granularity not in GRANULARITIES:
        raise typer.BadParameter(f"must be one of {', '.join(GRANULARITIES)}", param_hint="--granularity")
    ctx: CliContext = typer_ctx.obj
    messages = read_topic(ctx.kafka(), ctx.topics().windows, from_beginning=from_beginning or not follow, follow=follow)
    records: Iterator[dict[str, Any]] = (
        r
        for r in decode_windows(m.value() for m in messages)
        if (account is None or r.get("account_id") == account)
        and (granularity is None or r.get("granularity") == granularity)
    )
    if follow:
        _stop_on_sigterm()
    else:
        records = iter(latest_revisions(records))
    if fmt == "jsonl":
        print_jsonl(records, flush_each=follow)
    elif fmt == "json":
        stream_json_array(records)
    elif follow:
        for record in records:
            console.print(window_line(record), highlight=False)
    else:
        items = list(records)
        print_table(f"{len(items)} window(s)", COLUMNS, [tuple(r.get(c) for c in COLUMNS) for r in items])


def decode_windows(values: Iterable[bytes | None]) -> Iterator[dict[str, Any]]:
    """WindowAggregate objects as published (printed unchanged); a record that is not a JSON
    object with a window_id and a revision is reported on stderr and skipped."""
    for value in values:
        try:
            record = orjson.loads(value or b"")
        except orjson.JSONDecodeError:
            record = None
        if not isinstance(record, dict) or "window_id" not in record or not isinstance(record.get("revision"), int):
            err_console.print("skipped a record of the windows topic that is not a WindowAggregate", highlight=False)
            continue
        yield record


def latest_revisions(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each window once, at its highest revision (the later record on a tie), sorted by account,
    granularity, start, key and model."""
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        held = latest.get(record["window_id"])
        if held is None or record["revision"] >= held["revision"]:
            latest[record["window_id"]] = record
    order = {g: n for n, g in enumerate(GRANULARITIES)}
    return sorted(
        latest.values(),
        key=lambda r: (
            str(r.get("account_id")),
            order.get(str(r.get("granularity")), 9),
            str(r.get("window_start")),
            str(r.get("api_key_id")),
            str(r.get("model")),
        ),
    )


def window_line(r: dict[str, Any]) -> str:
    return (
        f"{r.get('window_start')}  {r.get('granularity')}  {r.get('account_id')}  {r.get('api_key_id')}  "
        f"{r.get('model')}  {r.get('requests')} requests  {r.get('total_tokens')} tokens  {r.get('list_cost')}  "
        f"rev {r.get('revision')}"
    )


def register(app: typer.Typer) -> None:
    app.command("windows")(windows_cmd)
