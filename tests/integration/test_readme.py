"""Every command line of README.md's ```bash blocks is run here, in README order where it
matters, against this test's own broker, topics, data directory and chDB warehouse.

The three `make` lines are the exception, each for a reason: `make install` built the
environment this test runs in, `make test` runs this very test, and `make run` is `usageflow up`
(an interactive live view); `test_every_readme_command_is_run` keeps that list exact.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.cli import UsageflowCli
from tests.integration.test_alerts_stream import wait_for
from usageflow.broker.local import free_port

ROOT = Path(__file__).resolve().parents[2]
NOT_RUN_HERE = {"make install", "make test", "make run"}


def readme_commands() -> list[str]:
    """Command lines of the ```bash blocks, without comments, `.venv/bin/` or a trailing `&`."""
    text = (ROOT / "README.md").read_text()
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        for raw in block.splitlines():
            line = re.sub(r"\s+#.*$", "", raw).strip()
            line = line.removeprefix(".venv/bin/").removesuffix("&").strip()
            if line:
                lines.append(re.sub(r"\s+", " ", line))
    return lines


# Every README line this test runs (normalised as above).
RUN = {
    "usageflow kafka start",
    "usageflow kafka stop",
    "usageflow migrate",
    "usageflow sample accounts --out accounts.yaml",
    "usageflow sample events --out events.jsonl",
    "usageflow accounts load accounts.yaml",
    "usageflow replay events.jsonl",
    "usageflow invoice --month 2026-11",
    "usageflow invoice --month 2026-11 --account edu-001 --format json",
    "usageflow report --month 2026-11 --format json",
    "usageflow recommend --account edu-001 --growth 0.2",
    "usageflow sample price-book --versions --out price-book.yaml",
    "usageflow migrate --price-book price-book.yaml",
    "usageflow rerate --month 2026-11 --price-book price-book.yaml",
    "usageflow reconcile --month 2026-11",
    "usageflow credits grant --account edu-001 --amount 500 --id PO-2026-117",
    "usageflow invoice close --month 2026-11",
    "usageflow dlq list",
    "usageflow dlq replay --reason unknown_model",
    "usageflow alerts --from-beginning --format json",
    "usageflow alerts --follow",
    "usageflow windows --follow --format jsonl",
    "usageflow windows --account edu-001 --granularity 1d",
    "usageflow worker",
    "usageflow publish events.jsonl",
    "usageflow status",
    "curl -s 127.0.0.1:6066/metrics",
    "curl -s 127.0.0.1:6066/health",
    "curl -s '127.0.0.1:6066/usage/edu-001?window=hour'",
}


@pytest.mark.unit
def test_every_readme_command_is_run() -> None:
    commands = set(readme_commands())
    assert len(commands) >= 20
    assert commands - RUN - NOT_RUN_HERE == set(), "README commands no test runs"
    assert RUN - commands == set(), "commands run here that the README no longer shows"
    assert commands >= NOT_RUN_HERE


def args_of(line: str) -> list[str]:
    return line.split()[1:]


@pytest.mark.integration
def test_readme_commands_work(cli_factory: Callable[..., UsageflowCli]) -> None:
    # The local broker's lines, on a port and data directory of their own.
    own = cli_factory("own-broker", USAGEFLOW_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}")
    started = own.run(*args_of("usageflow kafka start"), timeout=300)
    assert started.stdout.strip().endswith(own.env["USAGEFLOW_KAFKA_BOOTSTRAP"].split(":")[1])
    assert own.run(*args_of("usageflow kafka stop")).stdout.strip() == "stopped"

    cli = cli_factory()
    run = cli.run
    assert "migration" in run("migrate").stdout
    run(*args_of("usageflow sample accounts --out accounts.yaml"))
    run(*args_of("usageflow sample events --out events.jsonl"))
    assert (cli.workdir / "events.jsonl").stat().st_size > 100_000
    assert "published 5 account(s)" in run(*args_of("usageflow accounts load accounts.yaml")).stdout
    replayed = run(*args_of("usageflow replay events.jsonl"), timeout=300).stdout
    assert "rejected 3" in replayed and "dead-lettered 4" in replayed, replayed

    table = run(*args_of("usageflow invoice --month 2026-11")).stdout
    assert "edu-001" in table and "total" in table
    [invoice] = json.loads(run(*args_of("usageflow invoice --month 2026-11 --account edu-001 --format json")).stdout)
    assert invoice["account_id"] == "edu-001" and re.fullmatch(r"\d+\.\d\d", invoice["total"])
    reports = json.loads(run(*args_of("usageflow report --month 2026-11 --format json")).stdout)
    assert {r["account_id"] for r in reports} >= {"edu-001", "edu-002", "tutor-payg"}
    assert "recommended:" in run(*args_of("usageflow recommend --account edu-001 --growth 0.2")).stdout
    run(*args_of("usageflow sample price-book --versions --out price-book.yaml"))
    run(*args_of("usageflow migrate --price-book price-book.yaml"))
    rerated = run(*args_of("usageflow rerate --month 2026-11 --price-book price-book.yaml")).stdout
    counted = re.search(r"(\d+) event\(s\), [1-9]\d* re-priced", rerated)
    assert counted and int(counted[1]) > 2900, rerated
    again = run(*args_of("usageflow rerate --month 2026-11 --price-book price-book.yaml")).stdout
    assert f"0 re-priced, {counted[1]} unchanged" in again, again
    assert "qwen-max" in run(*args_of("usageflow reconcile --month 2026-11")).stdout
    granted = run(*args_of("usageflow credits grant --account edu-001 --amount 500 --id PO-2026-117")).stdout
    assert "PO-2026-117: granted: 500.00 CNY to edu-001" in granted
    closed = run(*args_of("usageflow invoice close --month 2026-11")).stdout
    assert "INV-202611-000001" in closed and "credits" in closed
    dead = run(*args_of("usageflow dlq list")).stdout
    assert "unknown_model" in dead and "invalid_json" in dead
    assert "re-published 4 record(s)" in run(*args_of("usageflow dlq replay --reason unknown_model")).stdout
    alerts = json.loads(run(*args_of("usageflow alerts --from-beginning --format json")).stdout)
    assert alerts and all(a["schema_version"] == 1 for a in alerts)
    days = run(*args_of("usageflow windows --account edu-001 --granularity 1d")).stdout
    assert "edu-001" in days and "1d" in days and "window(s)" in days

    # The worker's lines: the README's port 6066 is this test's USAGEFLOW_STREAM_HTTP_PORT.
    port = cli.env["USAGEFLOW_STREAM_HTTP_PORT"]
    worker = cli.popen(*args_of("usageflow worker"))
    follower = window_follower = None
    try:
        wait_for(f"http://127.0.0.1:{port}/health", lambda h: h.get("status") == "ok", timeout=120)
        assert "published 3030, rejected 3" in run(*args_of("usageflow publish events.jsonl")).stdout
        wait_for(f"http://127.0.0.1:{port}/progress", lambda p: p.get("duplicates", 0) >= 3000, timeout=120)
        assert "consumed" in run(*args_of("usageflow status")).stdout
        for line in ("curl -s 127.0.0.1:6066/metrics", "curl -s 127.0.0.1:6066/health"):
            body = curl(line, port)
            assert body
        assert "usageflow_events_consumed_total" in curl("curl -s 127.0.0.1:6066/metrics", port)
        usage = json.loads(curl("curl -s '127.0.0.1:6066/usage/edu-001?window=hour'", port))
        assert usage["account_id"] == "edu-001"
        follower = cli.popen(*args_of("usageflow alerts --follow"))
        window_follower = cli.popen(*args_of("usageflow windows --follow --format jsonl"))
        time.sleep(3)
        assert follower.poll() is None, follower.stderr.read() if follower.stderr else ""
        assert window_follower.poll() is None, window_follower.stderr.read() if window_follower.stderr else ""
    finally:
        if follower is not None:
            follower.send_signal(signal.SIGTERM)
            assert follower.wait(timeout=30) in (0, 130)
        if window_follower is not None:
            window_follower.send_signal(signal.SIGTERM)
            assert window_follower.wait(timeout=30) in (0, 130)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0


def curl(line: str, port: str) -> str:
    """Run a README curl line against this test's worker port (curl itself when installed)."""
    url = line.rsplit(maxsplit=1)[-1].strip("'").replace("127.0.0.1:6066", f"127.0.0.1:{port}")
    try:
        done = subprocess.run(["curl", "-s", url], capture_output=True, text=True, timeout=30, check=False)
        if done.returncode == 0:
            return done.stdout
    except FileNotFoundError:
        pass
    with urllib.request.urlopen(f"http://{url}", timeout=10) as response:
        return response.read().decode()
