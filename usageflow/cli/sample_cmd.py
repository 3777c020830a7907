"""`usageflow sample accounts | events | price-book [--out FILE]`: the files shipped in
usageflow.demo, to start from (docs/cli.md §3)."""

from __future__ import annotations

import sys
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated

import typer

from usageflow.cli.output import err_console, write_file

SAMPLES: dict[str, str] = {
    "accounts": "accounts.yaml",  # the demo accounts, one per plan
    "events": "events.jsonl",  # a month of their usage, with a few bad lines
    "price-book": "price-book.yaml",  # the built-in price book, as a file to edit
}
VERSIONED_BOOK = "price-book-versions.yaml"  # an example with two price versions


def sample_file(name: str) -> Traversable:
    return files("usageflow.demo") / SAMPLES[name]


def sample_cmd(
    name: Annotated[str, typer.Argument(metavar="accounts|events|price-book", help="Which sample file.")],
    out: Annotated[Path | None, typer.Option(help="Write it to this file instead of stdout.")] = None,
    versions: Annotated[
        bool, typer.Option("--versions", help="price-book: an example with two price versions.")
    ] = False,
) -> None:
    """Print (or write) a sample file: demo accounts, demo events, or the default price book."""
    if name not in SAMPLES:
        raise typer.BadParameter(f"{name!r} is not one of {', '.join(SAMPLES)}", param_hint="NAME")
    if versions and name != "price-book":
        raise typer.BadParameter("--versions goes with price-book", param_hint="--versions")
    source = files("usageflow.demo") / VERSIONED_BOOK if versions else sample_file(name)
    data = source.read_bytes()
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    write_file(out, data)
    err_console.print(f"wrote {out} ({source.name}, {len(data):,} bytes)", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("sample")(sample_cmd)
