"""Printing: rich tables for people, JSON for scripts (cli.md shapes)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

console = Console()
if not console.is_terminal:
    console = Console(width=160)  # pipes and logs: do not squeeze tables into 80 columns
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def print_jsonl(items: Iterable[Any]) -> None:
    for item in items:
        sys.stdout.write(orjson.dumps(item).decode() + "\n")
    sys.stdout.flush()


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for name in columns:
        numeric = name in {"amount", "total", "tokens", "count", "partition", "offset"}
        table.add_column(name, justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    console.print(table)
