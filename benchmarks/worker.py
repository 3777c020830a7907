"""The real worker (`python -m usageflow worker`) as a subprocess, watched through /progress."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from benchmarks import BenchError
from benchmarks.stats import Span, span_from_points


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM (peak resident set) of a live process, in MiB; None if unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


@dataclass
class WorkerProcess:
    """One worker with its own data dir, chDB path and HTTP port (env passed in)."""

    env: dict[str, str]
    workdir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)
    _log: IO[bytes] | None = None
    peak_rss: float | None = None
    last: dict[str, Any] = field(default_factory=dict)
    windows_at: dict[int, int] = field(default_factory=dict)  # consumed -> window revisions published by then

    def __post_init__(self) -> None:
        self.log_path = self.workdir / "worker.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/progress"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "usageflow", "worker", "--loglevel", "INFO"],
            env=self.env,
            cwd=self.workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the benchmark, which stops the worker itself
        )

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise BenchError(f"the worker exited with status {self.proc.returncode}: {last_line(self.log_path)}")

    def progress(self) -> dict[str, Any] | None:
        self._check_alive()
        try:
            with urllib.request.urlopen(self.url, timeout=2) as response:  # noqa: S310 - our own worker
                data: dict[str, Any] = orjson.loads(response.read())
                self.last = data
                return data
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def sample_rss(self) -> None:
        if self.proc is not None:
            rss = peak_rss_mb(self.proc.pid)
            if rss is not None:
                self.peak_rss = max(self.peak_rss or 0.0, rss)

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.progress() is not None:
                return
            time.sleep(0.2)
        raise BenchError(f"the worker did not answer on {self.url} within {timeout_s:.0f}s: {last_line(self.log_path)}")

    def wait_consumed(self, target: int, timeout_s: float, poll_s: float = 0.05) -> list[tuple[float, int]]:
        """Poll until `consumed` >= target; returns (perf_counter seconds, consumed) points."""
        points: list[tuple[float, int]] = []
        deadline = time.monotonic() + timeout_s
        last = -1
        while True:
            data = self.progress()
            now = time.perf_counter()
            if data is not None:
                consumed = int(data.get("consumed", 0))
                if consumed != last:
                    points.append((now, consumed))
                    self.windows_at[consumed] = int(data.get("windows", 0))
                    last = consumed
                if consumed >= target:
                    self.sample_rss()
                    return points
            if time.monotonic() > deadline:
                raise BenchError(f"the worker consumed {max(last, 0)} of {target} events in {timeout_s:.0f}s")
            if len(points) % 25 == 0:
                self.sample_rss()
            time.sleep(poll_s)

    def stop(self, timeout_s: float = 60.0) -> None:
        """SIGTERM (the worker flushes and stops), SIGKILL after `timeout_s`."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            self.sample_rss()
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):  # too slow, or a second Ctrl-C
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None


def pipeline_span(worker: WorkerProcess, expected: int, timeout_s: float) -> Span:
    """From the first stored batch to the last: what the worker did between them, per second."""
    points = worker.wait_consumed(expected, timeout_s)
    span = span_from_points(points)
    if span is None:
        raise BenchError("the worker stored everything in one batch: use more --events")
    return span
