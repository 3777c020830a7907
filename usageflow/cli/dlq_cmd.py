"""`usageflow dlq list | replay` and `usageflow alerts`."""

from __future__ import annotations

import base64
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from usageflow.cli.context import CliContext
from usageflow.cli.output import console, print_json, print_jsonl

if TYPE_CHECKING:
    from usageflow.bus.dead_letter_index import DeadLetterEntry

dlq_app = typer.Typer(help="Inspect or re-publish dead-lettered events.")


def dead_letter_entries(ctx: CliContext) -> list[DeadLetterEntry]:
    from usageflow.bus.dead_letter_index import read_entries

    return read_entries(ctx.kafka(), ctx.topics())


def visible(value: object, limit: int | None = None) -> str:
    """Text safe to print: control and format characters (escape sequences, bidirectional
    overrides, zero-width characters) shown as `\\x1b` / `\\u202e` instead of acting."""
    text = value if isinstance(value, str) else str(value)
    if limit is not None:
        text = text[:limit]
    return "".join(ch if unicodedata.category(ch)[0] != "C" else _escaped(ch) for ch in text)


def _escaped(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _cell(value: object, limit: int | None = None) -> Text:
    """A table cell that is never parsed as markup, emoji codes or links."""
    return Text(visible(value, limit))


@dlq_app.command("list")
def dlq_list(
    typer_ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", help="table, json or jsonl")] = "table",
    reason: Annotated[str | None, typer.Option(help="Only this reason code.")] = None,
) -> None:
    """Every dead-lettered record with its reason: one entry per failed record (its copies and
    failed replays collapsed), identified by the dead-letter topic's partition:offset."""
    entries = [e for e in dead_letter_entries(typer_ctx.obj) if reason is None or e.reason == reason]
    if fmt == "json":
        print_json([e.as_json() for e in entries])
        return
    if fmt == "jsonl":
        print_jsonl(e.as_json() for e in entries)
        return
    table = Table(title=f"{len(entries)} dead letter(s)", title_justify="left")
    for name in ("id", "reason", "attempts", "status", "message", "source", "record"):
        table.add_column(name, justify="right" if name == "attempts" else "left")
    for e in entries:
        latest = e.latest
        table.add_row(
            _cell(e.id),
            _cell(latest.get("reason", "")),
            _cell(e.attempts),
            _cell(e.status),
            _cell(latest.get("message", ""), 80),
            _cell(e.origin(), 80),
            _cell(latest.get("original_text", ""), 60),
        )
    console.print(table)


@dlq_app.command("replay")
def dlq_replay(
    typer_ctx: typer.Context,
    reason: Annotated[str | None, typer.Option(help="Only this reason code (e.g. unknown_model).")] = None,
) -> None:
    """Re-publish dead-lettered originals to the events topic (after fixing the price book).
    Safe to repeat: an entry already replayed is not sent again unless its copy failed again,
    and an event id already billed is never billed again."""
    from usageflow.bus.admin import ensure_topics
    from usageflow.bus.dead_letter_index import replay_marker
    from usageflow.bus.producer import Publisher

    ctx: CliContext = typer_ctx.obj
    topics = ctx.topics()
    kafka = ctx.kafka()
    ensure_topics(kafka, topics)
    entries = [e for e in dead_letter_entries(ctx) if reason is None or e.reason == reason]
    publisher = Publisher(kafka, topics, report_each_delivery=True)  # the offset of each copy
    copies: list[tuple[tuple[int, int], tuple[str, int, int]]] = []
    skipped_replayed = skipped_unreplayable = 0
    for entry in entries:
        if entry.replayed:
            skipped_replayed += 1
            continue
        latest = entry.latest
        if latest.get("original_truncated") or latest.get("topic") == topics.accounts:
            skipped_unreplayable += 1  # a cut original, or an account record (fix it with `accounts load`)
            continue
        try:
            original = base64.b64decode(str(latest.get("original_b64", "")), validate=True)
        except ValueError:
            skipped_unreplayable += 1
            continue
        key = str(latest["key"]).encode() if latest.get("key") else None
        publisher.send(topics.events, key, original, on_delivery=_landed(entry.latest_at, copies))
    publisher.flush()
    for dead_letter, copy in copies:
        publisher.send(
            topics.dlq_replays, f"{dead_letter[0]}:{dead_letter[1]}".encode(), replay_marker(dead_letter, copy)
        )
    publisher.flush()
    skipped = []
    if skipped_replayed:
        skipped.append(f"{skipped_replayed} already replayed (not failed since)")
    if skipped_unreplayable:
        skipped.append(f"{skipped_unreplayable} not replayable (truncated originals or account records)")
    console.print(
        f"re-published {len(copies)} record(s) to {topics.events}"
        + (f"; skipped {', '.join(skipped)}" if skipped else "")
        + "; run the worker (or `usageflow replay`) to process them",
        highlight=False,
        markup=False,
    )


def _landed(
    dead_letter: tuple[int, int], copies: list[tuple[tuple[int, int], tuple[str, int, int]]]
) -> Callable[[Any, Any], None]:
    def on_delivery(err: Any, msg: Any) -> None:
        if err is None:
            copies.append((dead_letter, (msg.topic(), msg.partition(), msg.offset())))

    return on_delivery


def register(app: typer.Typer) -> None:
    app.add_typer(dlq_app, name="dlq")
