"""Run a benchmark module in its own process (chDB: one path per process) and read its JSON."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from benchmarks import BenchError
from benchmarks.worker import last_line

HARNESS_ROOT = Path(__file__).resolve().parents[1]  # the folder that holds `benchmarks/`


def child_env() -> dict[str, str]:
    """The harness is not installed: a part run in its own directory finds it on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HARNESS_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def run_child(
    module: str, args: list[str], workdir: Path, timeout_s: float, python: str | None = None
) -> dict[str, Any]:
    """`python -m module args…`: stdout's last line is the result, stderr goes to a log file.
    Any failure becomes one BenchError line naming the part."""
    name = module.rsplit(".", 1)[-1]
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [python or sys.executable, "-m", module, *args],
            cwd=workdir,
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
        try:
            out, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise BenchError(f"{name} did not finish within {timeout_s:.0f}s: {last_line(log_path)}") from None
        except BaseException:
            _kill(proc)
            raise
    lines = [line for line in out.decode(errors="replace").splitlines() if line.startswith("{")]
    result: dict[str, Any] = {}
    if lines:
        try:
            result = orjson.loads(lines[-1])
        except orjson.JSONDecodeError:
            result = {}
    if "error" in result:
        raise BenchError(f"{name}: {result['error']}")
    if proc.returncode != 0 or not result:
        raise BenchError(f"{name} failed (exit {proc.returncode}): {last_line(log_path) or 'no output'}")
    return result


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
