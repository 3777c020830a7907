"""`usageflow dlq list | replay` and `usageflow alerts`."""

from __future__ import annotations

import base64
from typing import Annotated, Any

import orjson
import typer

from usageflow.bus.reader import read_topic
from usageflow.cli.context import CliContext
from usageflow.cli.output import console, print_json, print_jsonl, print_table

dlq_app = typer.Typer(help="Inspect or re-publish dead-lettered events.")


def dead_letters(ctx: CliContext) -> list[dict[str, Any]]:
    """Dead letters, one per source record: a record dead-lettered twice (a worker restarted
    before committing) is listed once, keyed by its source topic/partition/offset."""
    seen: dict[tuple[str, int, int], dict[str, Any]] = {}
    for msg in read_topic(ctx.kafka(), ctx.topics().dlq):
        try:
            record = orjson.loads(msg.value() or b"")
        except orjson.JSONDecodeError:
            continue
        if not isinstance(record, dict) or "reason" not in record:
            continue
        record["dlq_offset"] = msg.offset()
        record["dlq_partition"] = msg.partition()
        seen.setdefault((record["topic"], record["partition"], record["offset"]), record)
    return list(seen.values())


@dlq_app.command("list")
def dlq_list(
    typer_ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", help="table, json or jsonl")] = "table",
    reason: Annotated[str | None, typer.Option(help="Only this reason code.")] = None,
) -> None:
    """Every dead-lettered record with its reason."""
    records = [r for r in dead_letters(typer_ctx.obj) if reason is None or r["reason"] == reason]
    if fmt == "json":
        print_json(records)
    elif fmt == "jsonl":
        print_jsonl(records)
    else:
        print_table(
            f"{len(records)} dead letter(s)",
            ["reason", "message", "source", "record"],
            [
                (
                    r["reason"],
                    r["message"][:80],
                    f"{r['topic']}[{r['partition']}]@{r['offset']}",
                    r["original_text"][:60],
                )
                for r in records
            ],
        )


@dlq_app.command("replay")
def dlq_replay(
    typer_ctx: typer.Context,
    reason: Annotated[str | None, typer.Option(help="Only this reason code (e.g. unknown_model).")] = None,
) -> None:
    """Re-publish dead-lettered originals to the events topic (after fixing the price book).
    Safe to repeat: an event id already billed is never billed again."""
    from usageflow.bus.producer import Publisher

    ctx: CliContext = typer_ctx.obj
    topics = ctx.topics()
    publisher = Publisher(ctx.kafka(), topics)
    count = 0
    for record in dead_letters(ctx):
        if reason is not None and record["reason"] != reason:
            continue
        original = base64.b64decode(record["original_b64"])
        key = record["key"].encode() if record.get("key") else None
        publisher.send(topics.events, key, original)
        count += 1
    publisher.flush()
    console.print(
        f"re-published {count} record(s) to {topics.events}; run the worker (or `usageflow replay`) to process them"
    )


def alerts_cmd(
    typer_ctx: typer.Context,
    from_beginning: Annotated[bool, typer.Option("--from-beginning", help="Read the whole topic.")] = False,
    follow: Annotated[bool, typer.Option("--follow", help="Keep printing new alerts.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="table, json or jsonl")] = "table",
) -> None:
    """Read the alerts topic; without --follow, stop at its end."""
    ctx: CliContext = typer_ctx.obj
    messages = read_topic(ctx.kafka(), ctx.topics().alerts, from_beginning=from_beginning or not follow, follow=follow)
    alerts = (orjson.loads(m.value() or b"{}") for m in messages)
    if fmt == "jsonl" or (follow and fmt != "json"):
        if fmt == "jsonl":
            print_jsonl(alerts)
            return
        for a in alerts:
            console.print(_alert_line(a), highlight=False)
        return
    items = list(alerts)
    if fmt == "json":
        print_json(items)
    else:
        print_table(
            f"{len(items)} alert(s)",
            [
                "triggered_at",
                "account_id",
                "type",
                "period",
                "level",
                "value",
                "limit",
                "percentage",
            ],
            [
                (
                    a["triggered_at"],
                    a["account_id"],
                    a["type"],
                    a["period"],
                    a["level"],
                    a["value"],
                    a["limit"],
                    a["percentage"],
                )
                for a in items
            ],
        )


def _alert_line(a: dict[str, Any]) -> str:
    return (
        f"{a['triggered_at']}  {a['account_id']}  {a['type']}  {a['period']}  level {a['level']}  "
        f"{a['value']}/{a['limit']} ({a['percentage']}%)"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(dlq_app, name="dlq")
    app.command("alerts")(alerts_cmd)
