"""The command line's shared vocabulary: formats, global options anywhere, one-line usage errors."""

from __future__ import annotations

import inspect
import typing
from pathlib import Path

import pytest
import typer

import usageflow
from usageflow.cli import vocabulary
from usageflow.cli.context import CliContext
from usageflow.cli.main import app, main
from usageflow.cli.output import write_file
from usageflow.cli.up_cmd import broker_configured
from usageflow.errors import UsageflowError

pytestmark = pytest.mark.unit


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        main(list(args))
    out, err = capsys.readouterr()
    return int(stop.value.code or 0), out, err


def format_commands() -> list[tuple[str, ...]]:
    found = []
    for path, info in vocabulary.commands(app):
        assert info.callback is not None
        if "fmt" in inspect.signature(info.callback).parameters:
            found.append(path)
    return found


def test_every_format_option_is_in_the_one_table() -> None:
    paths = format_commands()
    assert len(paths) >= 8
    for path in paths:
        assert " ".join(path) in vocabulary.COMMAND_FORMATS, f"usageflow {' '.join(path)} is missing from the table"
    for name, allowed in vocabulary.COMMAND_FORMATS.items():
        assert set(allowed) <= set(vocabulary.FORMAT_NAMES), name
        assert allowed[0] == "table", name


def test_every_format_default_is_the_first_allowed_name() -> None:
    for path, info in vocabulary.commands(app):
        assert info.callback is not None
        fmt = inspect.signature(info.callback).parameters.get("fmt")
        if fmt is not None:
            assert fmt.default == vocabulary.allowed_formats(path)[0], path


@pytest.mark.parametrize("path", sorted(vocabulary.COMMAND_FORMATS))
def test_an_unknown_format_is_a_usage_error_on_one_line(capsys: pytest.CaptureFixture[str], path: str) -> None:
    required = {
        "invoice": ["--month", "2026-11"],
        "report": ["--month", "2026-11"],
        "recommend": ["--account", "a"],
        "publish": ["-"],
        "rerate": ["--month", "2026-11"],
    }
    code, out, err = run(capsys, *path.split(), *required.get(path, []), "--format", "xml")
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "'xml' is not one of " + ", ".join(vocabulary.COMMAND_FORMATS[path]) in lines[0]
    assert lines[0].startswith(f"usageflow {path}:")


def test_publish_speaks_the_same_names_as_the_rest(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "publish", "-", "--format", "text")
    assert code == 2 and "'text' is not one of table, json" in err


@pytest.mark.parametrize("where", ["before", "after"])
def test_global_options_are_accepted_before_or_after_the_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, where: str
) -> None:
    missing = tmp_path / "no-such-warehouse"
    flag = ["--warehouse", f"chdb:{missing}"]
    args = [*flag, "invoice", "--month", "2026-11"] if where == "before" else ["invoice", "--month", "2026-11", *flag]
    code, _, err = run(capsys, *args)
    assert code == 1
    assert f"no warehouse at chdb:{missing}" in err and "usageflow migrate" in err
    assert not missing.exists(), "a read created the warehouse it was asked to read"


def test_a_global_option_after_the_command_overrides_the_one_before(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    code, _, err = run(
        capsys, "--warehouse", f"chdb:{first}", "report", "--month", "2026-11", "--warehouse", f"chdb:{second}"
    )
    assert code == 1 and str(second) in err and str(first) not in err


def test_every_command_takes_the_global_options() -> None:
    names = {n for n in CliContext.__dataclass_fields__ if not n.startswith("_")}
    for path, info in vocabulary.commands(app):
        assert info.callback is not None
        params = set(inspect.signature(info.callback).parameters)
        assert names <= params, f"usageflow {' '.join(path)} lacks {sorted(names - params)}"


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["invoice", "--month", "2026-09\n"], "--month"),
        (["invoice", "--month", "2026-13"], "--month"),
        (["recommend", "--account", "a", "--growth", "abc"], "--growth"),
        (["recommend", "--account", "a", "--growth", "NaN"], "--growth"),
        (["kafka", "start", "--port", "99999"], "--port"),
        (["report", "--month", "2026-11", "--format", "html"], "--out"),
        (["sample", "nope"], "NAME"),
    ],
)
def test_bad_values_are_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str], hint: str) -> None:
    code, _, err = run(capsys, *args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert hint in err
    assert "unexpected" not in err and "Traceback" not in err


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.strip() == f"usageflow {usageflow.__version__}"


def test_an_unwritable_output_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UsageflowError, match=r"cannot write .*missing-dir.*No such file or directory"):
        write_file(tmp_path / "missing-dir" / "report.html", "<html></html>")


def test_up_reads_the_bootstrap_from_dot_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("USAGEFLOW_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.chdir(tmp_path)
    assert not broker_configured(CliContext())
    (tmp_path / ".env").write_text("USAGEFLOW_KAFKA_BOOTSTRAP=10.0.0.7:9092\n")
    assert broker_configured(CliContext())
    assert CliContext().kafka().bootstrap == "10.0.0.7:9092"


def test_wrapped_commands_keep_their_documented_parameters() -> None:
    """typer reads the wrapper's signature: the command's own options must all still be there."""
    from usageflow.cli.billing_cmd import invoice_cmd

    info = next(i for p, i in vocabulary.commands(app) if p == ("invoice",))
    assert info.callback is not None
    own = set(inspect.signature(invoice_cmd).parameters)
    assert own <= set(inspect.signature(info.callback).parameters)
    hints = typing.get_type_hints(info.callback, include_extras=True)
    assert hints["typer_ctx"] is typer.Context
