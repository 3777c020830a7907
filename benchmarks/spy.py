"""Sample the running worker with py-spy (PyPI `py-spy`, optional) and name where it spends time.

`py-spy record --format raw` writes collapsed stacks ("frame;frame;… count"); idle samples
are left out by py-spy, so the shares are of the worker's busy time.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*?)(?::\d+)?\)$")
TOP = 20


def py_spy_binary() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.is_file() else shutil.which("py-spy")


PROJECT_ROOT = str(Path(__file__).resolve().parents[1]) + "/"


def short_path(path: str) -> str:
    """A source path relative to the project, site-packages or the standard library."""
    for marker in ("site-packages/", PROJECT_ROOT, "python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _frame(text: str) -> str:
    m = _FRAME.match(text.strip())
    if not m:
        return text.strip()
    return f"{m.group('func')} ({short_path(m.group('file'))})"


def summarize_collapsed(lines: list[str], top: int = TOP) -> dict[str, Any]:
    """Self (leaf) and inclusive shares, in % of samples, of each function (lines merged)."""
    leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        leaf[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    if not total:
        return {"samples": 0, "top_self_pct": [], "top_inclusive_pct": []}

    def share(counter: Counter[str]) -> list[list[Any]]:
        return [[name, round(100 * n / total, 1)] for name, n in counter.most_common(top)]

    return {"samples": total, "top_self_pct": share(leaf), "top_inclusive_pct": share(inclusive)}


@dataclass
class PySpy:
    proc: subprocess.Popen[bytes] | None
    output: Path
    error: str | None = None

    @classmethod
    def attach(cls, pid: int, output: Path, rate: int = 100) -> PySpy:
        binary = py_spy_binary()
        if binary is None:
            return cls(None, output, "py-spy is not installed (pip install py-spy)")
        proc = subprocess.Popen(
            [
                binary,
                "record",
                "--pid",
                str(pid),
                "--format",
                "raw",
                "--rate",
                str(rate),
                "--nonblocking",
                "-o",
                str(output),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return cls(proc, output)

    def finish(self) -> dict[str, Any]:
        """Stop sampling (py-spy writes its file on SIGINT) and summarise."""
        if self.proc is None:
            return {"error": self.error}
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.abort()
            return {"error": "py-spy did not stop"}
        try:
            lines = self.output.read_text(errors="replace").splitlines()
        except OSError:
            return {"error": "py-spy wrote no samples (needs ptrace permission)"}
        return summarize_collapsed(lines)

    def abort(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
