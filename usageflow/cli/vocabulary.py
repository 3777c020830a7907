"""One vocabulary for the whole command, applied to every command in one place:

- which `--format` names each command takes (docs/cli.md §2): `table` (for people, the default),
  `json` (one JSON document), `jsonl` (one JSON object per line, the streaming form) and `html`
  (a self-contained page); a name a command does not take is a usage error (exit 2);
- the global options (`--warehouse`, `--bootstrap`, …) are accepted before or after the command
  name: `usageflow --warehouse W invoice …` and `usageflow invoice --warehouse W …` are the same,
  and a value given after the name wins.

Both are done by wrapping each command's function before typer builds the command tree, so a
command module needs nothing of its own for either.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Iterator
from copy import copy
from typing import Annotated, Any

import typer
from typer.models import CommandInfo, OptionInfo

from usageflow.cli.context import CliContext
from usageflow.cli.output import configure_logging

FORMAT_NAMES = ("table", "json", "jsonl", "html")

# command path -> the --format names it accepts, default first
COMMAND_FORMATS: dict[str, tuple[str, ...]] = {
    "invoice": ("table", "json"),
    "report": ("table", "json", "html"),
    "recommend": ("table", "json"),
    "alerts": ("table", "json", "jsonl"),
    "dlq list": ("table", "json", "jsonl"),
    "publish": ("table", "json"),
    "status": ("table", "json"),
    "kafka status": ("table", "json"),
    "rerate": ("table", "json"),
}
# A command with --format that is not listed takes the two names every read command has.
FALLBACK_FORMATS = ("table", "json")
GLOBAL_PANEL = "Global options (before or after the command)"
_WRAPPED = "__usageflow_wrapped__"
_CTX = "usageflow_typer_ctx"


def commands(app: typer.Typer, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], CommandInfo]]:
    """Every command registered on `app` and its sub-groups, with its path of names."""
    for info in app.registered_commands:
        assert info.callback is not None
        name = info.name or info.callback.__name__.replace("_", "-")
        yield (*path, name), info
    for group in app.registered_groups:
        if group.typer_instance is not None:
            yield from commands(group.typer_instance, (*path, str(group.name)))


def allowed_formats(path: tuple[str, ...]) -> tuple[str, ...]:
    return COMMAND_FORMATS.get(" ".join(path), FALLBACK_FORMATS)


def apply(app: typer.Typer, top_level: Callable[..., Any]) -> None:
    """Wrap every command of `app` once: shared --format check and the global options of
    `top_level` (the app callback) accepted after the command name too."""
    globals_ = _global_parameters(top_level)
    for path, info in commands(app):
        if info.callback is not None and not getattr(info.callback, _WRAPPED, False):
            info.callback = _wrap(path, info.callback, globals_)


def _global_parameters(top_level: Callable[..., Any]) -> list[inspect.Parameter]:
    hints = typing.get_type_hints(top_level, include_extras=True)
    found = []
    for p in inspect.signature(top_level).parameters.values():
        if p.name not in CliContext.__dataclass_fields__:
            continue  # the typer context and --version stay top-level only
        base, info = typing.get_args(hints[p.name])
        info = copy(info)
        info.rich_help_panel = GLOBAL_PANEL
        info.show_default = False
        found.append(
            inspect.Parameter(
                p.name, inspect.Parameter.KEYWORD_ONLY, default=p.default, annotation=Annotated[base, info]
            )
        )
    return found


def _wrap(path: tuple[str, ...], fn: Callable[..., Any], globals_: list[inspect.Parameter]) -> Callable[..., Any]:
    hints = typing.get_type_hints(fn, include_extras=True)
    params: list[inspect.Parameter] = []
    ctx_name: str | None = None
    has_format = False
    for p in inspect.signature(fn).parameters.values():
        annotation = hints.get(p.name, p.annotation)
        if annotation is typer.Context:
            ctx_name = p.name
        if _is_format(annotation):
            has_format = True
            annotation = _with_format_help(annotation, allowed_formats(path))
        params.append(p.replace(annotation=annotation))
    clash = {p.name for p in params} & {g.name for g in globals_}
    if clash:
        raise RuntimeError(f"usageflow {' '.join(path)} has options named like global ones: {sorted(clash)}")
    if ctx_name is None:
        params.append(inspect.Parameter(_CTX, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context))
    params.extend(globals_)
    global_names = [g.name for g in globals_]
    allowed = allowed_formats(path)

    @functools.wraps(fn)
    def run(**kwargs: Any) -> Any:
        typer_ctx: typer.Context = kwargs.pop(_CTX) if ctx_name is None else kwargs[ctx_name]
        _apply_globals(typer_ctx, {name: kwargs.pop(name) for name in global_names})
        if has_format and kwargs.get("fmt") not in allowed:
            raise typer.BadParameter(
                f"{kwargs.get('fmt')!r} is not one of {', '.join(allowed)}", param_hint="'--format'"
            )
        return fn(**kwargs)

    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in params}
    setattr(run, _WRAPPED, True)
    return run


def _apply_globals(typer_ctx: typer.Context, given: dict[str, Any]) -> None:
    ctx = typer_ctx.find_object(CliContext)
    if ctx is None:
        return
    for name, value in given.items():
        if value is not None and value is not False:
            setattr(ctx, name, value)
    if given.get("debug"):
        configure_logging(debug=True)


def _is_format(annotation: Any) -> bool:
    if typing.get_origin(annotation) is not Annotated:
        return False
    return any(isinstance(a, OptionInfo) and "--format" in _declared_names(a) for a in typing.get_args(annotation))


def _declared_names(info: OptionInfo) -> tuple[object, ...]:
    """In `Annotated[str, typer.Option("--format")]` the first name sits in `default`."""
    return (info.default, *(info.param_decls or ()))


def _with_format_help(annotation: Any, allowed: tuple[str, ...]) -> Any:
    base, *extras = typing.get_args(annotation)
    infos = []
    for extra in extras:
        if isinstance(extra, OptionInfo):
            info = copy(extra)
            info.help = " | ".join(allowed)
            infos.append(info)
        else:
            infos.append(extra)
    return Annotated[(base, *infos)]
