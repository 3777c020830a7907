"""The click that typer runs on. Newer typer releases carry their own copy (`typer._click`) and no
longer use the `click` package; the command tree, its parameter types and its exceptions must
come from the copy typer builds with."""

from __future__ import annotations

try:
    from typer import _click as click
except ImportError:  # typer before it carried its own click
    import click  # type: ignore[no-redef]

__all__ = ["click"]
