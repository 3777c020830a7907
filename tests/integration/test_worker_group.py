"""Several workers in one consumer group, and account changes reaching a running worker."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.cli import UsageflowCli
from tests.integration.test_alerts_stream import (
    ACCOUNTS,
    EXPECTED,
    alert_keys,
    first_half,
    second_half,
    wait_for,
    write,
)

pytestmark = pytest.mark.integration


def progress(port: str) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/progress", timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def test_two_workers_in_one_group_fire_the_same_alerts_as_one(cli_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Accounts are keyed by partition, so each worker owns whole accounts; with chDB each worker
    # has its own warehouse path (a ClickHouse server would be shared).
    one: UsageflowCli = cli_factory("one")
    two: UsageflowCli = cli_factory("two")
    (tmp_path / "accounts.yaml").write_text(ACCOUNTS)
    one.run("accounts", "load", str(tmp_path / "accounts.yaml"))
    workers = [one.popen("worker"), two.popen("worker")]
    try:
        for cli in (one, two):
            wait_for(f"http://127.0.0.1:{cli.env['USAGEFLOW_STREAM_HTTP_PORT']}/progress", lambda p: "consumed" in p)
        time.sleep(6)  # let the group settle on two members before data arrives
        events = first_half() + second_half()
        one.run("publish", str(write(tmp_path / "all.jsonl", events)))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            done = sum(progress(c.env["USAGEFLOW_STREAM_HTTP_PORT"])["consumed"] for c in (one, two))
            if done >= len(events):
                break
            time.sleep(0.5)
        shares = [progress(c.env["USAGEFLOW_STREAM_HTTP_PORT"])["consumed"] for c in (one, two)]
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(timeout=60)
    assert sum(shares) == len(events)
    keys = alert_keys(one)
    assert len(keys) == len(set(keys)) and set(keys) == EXPECTED


def test_account_change_reaches_a_running_worker(cli: UsageflowCli, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{cli.env['USAGEFLOW_STREAM_HTTP_PORT']}"
    (tmp_path / "a.yaml").write_text("- account_id: al-1\n  plan: payg\n")
    cli.run("accounts", "load", str(tmp_path / "a.yaml"))
    worker = cli.popen("worker")
    try:
        wait_for(f"{base}/progress", lambda p: "consumed" in p)
        (invoice,) = cli.json("invoice", "--month", "2026-11", "--account", "al-1", "--format", "json")
        assert invoice["plan"] == "payg"
        (tmp_path / "b.yaml").write_text("- account_id: al-1\n  plan: starter\n  educational: true\n")
        cli.run("accounts", "load", str(tmp_path / "b.yaml"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            (invoice,) = cli.json("invoice", "--month", "2026-11", "--account", "al-1", "--format", "json")
            if invoice["plan"] == "starter":
                break
            time.sleep(0.5)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert invoice["plan"] == "starter"
    assert [line["kind"] for line in invoice["lines"]] == ["plan_fee", "usage", "discount_educational"]
    assert invoice["total"] == "239.20"  # 299.00 - 59.80
