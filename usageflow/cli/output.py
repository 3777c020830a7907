"""Printing: rich tables for people, JSON for scripts (the shapes of docs/cli.md §4)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from usageflow.errors import UsageflowError

console = Console()
if not console.is_terminal:
    console = Console(width=160)  # pipes and logs: do not squeeze tables into 80 columns
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def print_jsonl(items: Iterable[Any], flush_each: bool = False) -> None:
    """One JSON object per line; `flush_each` for endless streams (a reader sees every line at once)."""
    for item in items:
        sys.stdout.write(orjson.dumps(item).decode() + "\n")
        if flush_each:
            sys.stdout.flush()
    sys.stdout.flush()


def stream_json_array(items: Iterable[Any]) -> None:
    """One JSON array written element by element as `items` yields them, each on a line of its
    own and ended at once (a comma opens the following line), and closed even when the stream is
    interrupted, so what was printed is always one valid document."""
    sys.stdout.write("[\n")
    sys.stdout.flush()
    first = True
    try:
        for item in items:
            sys.stdout.write(("" if first else ",") + orjson.dumps(item).decode() + "\n")
            sys.stdout.flush()
            first = False
    finally:
        sys.stdout.write("]\n")
        sys.stdout.flush()


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for name in columns:
        numeric = name in {"amount", "total", "tokens", "count", "partition", "offset"}
        table.add_column(name, justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    console.print(table)


def configure_logging(debug: bool) -> None:
    """Warnings only, unless --debug (then librdkafka's own log lines too)."""
    logging.getLogger("usageflow.librdkafka").setLevel(logging.DEBUG if debug else logging.CRITICAL)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        force=True,
    )


def write_file(path: Path, data: bytes | str) -> None:
    """Write an output file; a path that cannot be written is one clear error."""
    try:
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
    except OSError as exc:
        raise UsageflowError(f"cannot write {path}: {exc.strerror or exc}") from exc
