"""The operator's paths of the CLI against a real broker and a real chDB: reads without a
migrated warehouse, unknown accounts, a worker that died without cleaning up, and
`alerts --follow` streaming its output."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer

from tests.fixtures.cli import UsageflowCli

pytestmark = pytest.mark.integration


def one_line_failure(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Code:" not in lines[0] and "unexpected" not in lines[0]
    return lines[0]


def test_a_read_of_a_missing_warehouse_names_the_fix_and_creates_nothing(cli: UsageflowCli) -> None:
    for args in (("invoice", "--month", "2026-11"), ("report", "--month", "2026-11"), ("recommend", "--account", "a")):
        line = one_line_failure(cli.run(*args, check=False))
        assert "usageflow migrate" in line
    assert not (cli.workdir / "warehouse").exists()
    assert not (cli.workdir / ".usageflow").exists()


def test_a_read_of_an_unmigrated_warehouse_names_the_fix(cli: UsageflowCli) -> None:
    url = cli.env["USAGEFLOW_WAREHOUSE"]
    opened = subprocess.run(
        [sys.executable, "-c", f"from usageflow.warehouse import open_warehouse; open_warehouse({url!r}).close()"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert opened.returncode == 0, opened.stderr
    line = one_line_failure(cli.run("invoice", "--month", "2026-11", check=False))
    assert "has no usageflow tables" in line and "usageflow migrate" in line


def test_unknown_accounts_are_named_and_known_ones_answered(cli: UsageflowCli, tmp_path: Path) -> None:
    cli.run("migrate")
    cli.run("sample", "events", "--out", "events.jsonl")
    cli.run("replay", "events.jsonl", timeout=300)
    for args in (("recommend", "--account", "nope"), ("invoice", "--month", "2026-11", "--account", "nope")):
        line = one_line_failure(cli.run(*args, check=False))
        assert "unknown account 'nope'" in line
    known = json.loads(cli.run("recommend", "--account", "edu-001", "--month", "2026-11", "--format", "json").stdout)
    assert known["account_id"] == "edu-001" and known["base_tokens"] > 0


def test_status_after_a_killed_worker_says_none_is_running(cli: UsageflowCli) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    data_dir = Path(cli.env["USAGEFLOW_DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "worker.json").write_text(
        json.dumps({"pid": dead.pid, "url": "http://127.0.0.1:9", "warehouse": "chdb:x"})
    )
    line = one_line_failure(cli.run("status", check=False))
    assert "no worker is running" in line


def publish_alerts(bootstrap: str, topic: str, count: int, start: int = 0) -> list[dict[str, object]]:
    producer = Producer({"bootstrap.servers": bootstrap})
    sent = []
    for n in range(start, start + count):
        alert = {
            "schema_version": 1,
            "alert_id": f"a-{n}",
            "type": "budget",
            "account_id": "edu-001",
            "period": "2026-11",
            "level": "0.5",
            "value": "450.00",
            "limit": "900.00",
            "percentage": "50.00",
            "triggered_at": "2026-11-20T10:00:00Z",
            "emitted_at": "2026-11-20T10:00:01Z",
            "plan": "standard",
        }
        producer.produce(topic, key=b"edu-001", value=orjson.dumps(alert))
        sent.append(alert)
    producer.flush(30)
    return sent


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_alerts_follow_streams_and_stops_cleanly(
    cli_factory: Callable[..., UsageflowCli], kafka_bootstrap: str, topic_prefix: str, fmt: str
) -> None:
    cli = cli_factory()
    topic = f"{topic_prefix}usage.alerts"
    before = publish_alerts(kafka_bootstrap, topic, 3)
    follower = cli.popen("alerts", "--follow", "--from-beginning", "--format", fmt)
    try:
        assert follower.stdout is not None
        first = follower.stdout.readline()  # printed while the command keeps running
        assert follower.poll() is None
        after = publish_alerts(kafka_bootstrap, topic, 2, start=3)
        lines = [first]
        wanted = len(before) + len(after) + (1 if fmt == "json" else 0)  # json: the "[" line
        deadline = time.monotonic() + 60
        while len(lines) < wanted and time.monotonic() < deadline:
            lines.append(follower.stdout.readline())
    finally:
        follower.send_signal(signal.SIGTERM)
        rest, _ = follower.communicate(timeout=30)
    text = "".join(lines) + rest
    got = parse_output(text, fmt)
    assert [a["alert_id"] for a in got] == [a["alert_id"] for a in before + after]


def parse_output(text: str, fmt: str) -> list[dict[str, object]]:
    if fmt == "jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)  # one complete JSON array, closed on SIGTERM
