"""`usageflow alerts`: read the alerts topic, once or following it.

Every format streams: `jsonl` prints one Alert v1 object per line as it arrives, `json` prints
one JSON array whose elements also appear as they arrive and which is closed when the command
stops (end of the topic, Ctrl-C or SIGTERM), and `table` prints a table, or one line per alert
with `--follow` (docs/cli.md §3).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterable, Iterator
from types import FrameType
from typing import Annotated, Any

import orjson
import typer

from usageflow.cli.context import CliContext
from usageflow.cli.output import console, err_console, print_jsonl, print_table, stream_json_array

COLUMNS = ("triggered_at", "account_id", "type", "period", "level", "value", "limit", "percentage")


def alerts_cmd(
    typer_ctx: typer.Context,
    from_beginning: Annotated[bool, typer.Option("--from-beginning", help="Read the whole topic.")] = False,
    follow: Annotated[bool, typer.Option("--follow", help="Keep printing new alerts until stopped.")] = False,
    fmt: Annotated[str, typer.Option("--format")] = "table",
) -> None:
    """Read the alerts topic; without --follow, stop at its end."""
    from usageflow.bus.reader import read_topic

    ctx: CliContext = typer_ctx.obj
    messages = read_topic(ctx.kafka(), ctx.topics().alerts, from_beginning=from_beginning or not follow, follow=follow)
    alerts = decode_alerts(m.value() for m in messages)
    if follow:
        _stop_on_sigterm()
    if fmt == "jsonl":
        print_jsonl(alerts, flush_each=follow)
    elif fmt == "json":
        stream_json_array(alerts)
    elif follow:
        for alert in alerts:
            console.print(alert_line(alert), highlight=False)
    else:
        items = list(alerts)
        print_table(f"{len(items)} alert(s)", COLUMNS, [tuple(a.get(c) for c in COLUMNS) for a in items])


def decode_alerts(values: Iterable[bytes | None]) -> Iterator[dict[str, Any]]:
    """Alert objects; a record that is not a JSON object is reported on stderr and skipped."""
    for value in values:
        try:
            alert = orjson.loads(value or b"")
        except orjson.JSONDecodeError:
            alert = None
        if not isinstance(alert, dict):
            err_console.print("skipped a record of the alerts topic that is not an Alert object", highlight=False)
            continue
        yield alert


def alert_line(a: dict[str, Any]) -> str:
    return (
        f"{a.get('triggered_at')}  {a.get('account_id')}  {a.get('type')}  {a.get('period')}  level {a.get('level')}  "
        f"{a.get('value')}/{a.get('limit')} ({a.get('percentage')}%)"
    )


def _stop_on_sigterm() -> None:
    """SIGTERM stops a follower like Ctrl-C does, so a streamed JSON array is still closed."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    if sys.platform != "win32":
        signal.signal(signal.SIGTERM, interrupt)


def register(app: typer.Typer) -> None:
    app.command("alerts")(alerts_cmd)
