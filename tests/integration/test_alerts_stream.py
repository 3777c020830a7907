"""Alerts through the real worker: a crafted stream gives exactly the expected alert set, once,
across replays and a SIGKILLed worker."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fixtures.cli import UsageflowCli

pytestmark = pytest.mark.integration

ACCOUNTS = """
- account_id: al-1
  plan: starter           # 500,000 tokens/month, 5 concurrent: daily limit 16,666.67
- account_id: al-payg
  plan: payg
  monthly_budget: 1.00
"""


def ev(event_id: str, account: str, ts: str, tokens: int, latency_ms: int = 100) -> dict[str, object]:
    return {
        "schema_version": 1,
        "event_id": event_id,
        "account_id": account,
        "api_key_id": "key-1",
        "model": "qwen-max",
        "region": "us-west",
        "input_tokens": tokens,
        "output_tokens": 0,
        "ts": ts,
        "latency_ms": latency_ms,
    }


def first_half() -> list[dict[str, object]]:
    # Day 1 (Asia/Shanghai): ten 1,000-token requests an hour apart: 10,000 < 0.8 x 16,666.67.
    events = [ev(f"a{i}", "al-1", f"2026-11-03T{9 + i:02d}:00:00+08:00", 1000) for i in range(10)]
    # Four requests in flight together at 20:00:05 (>= 0.75 x 5) and 4,000 more tokens:
    # 14,000 >= 13,333.33 crosses the daily level.
    events += [ev(f"c{i}", "al-1", f"2026-11-03T20:00:{10 + i:02d}+08:00", 1000, latency_ms=20_000) for i in range(4)]
    # payg with a 1.00 CNY budget: 100,000 peak flagship tokens cost 0.60 (60%).
    events.append(ev("p1", "al-payg", "2026-11-03T12:00:00+08:00", 100_000))
    return events


def second_half() -> list[dict[str, object]]:
    return [
        # Day 2: 460,000 tokens: the day's level and the month's (474,000 >= 450,000).
        ev("b1", "al-1", "2026-11-04T10:00:00+08:00", 460_000),
        # payg: 200,000 tokens, L = 1.20, tiers 0.95: 1.14 CNY = 114%: levels 0.8 and 1.0.
        ev("p2", "al-payg", "2026-11-04T12:00:00+08:00", 100_000),
    ]


EXPECTED = {
    ("al-1", "concurrency", "2026-11-03", "0.75"),
    ("al-1", "daily_usage", "2026-11-03", "0.8"),
    ("al-1", "daily_usage", "2026-11-04", "0.8"),
    ("al-1", "monthly_usage", "2026-11", "0.9"),
    ("al-payg", "budget", "2026-11", "0.5"),
    ("al-payg", "budget", "2026-11", "0.8"),
    ("al-payg", "budget", "2026-11", "1"),
}


def write(path: Path, events: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def alert_keys(cli: UsageflowCli) -> list[tuple[str, str, str, str]]:
    alerts = cli.json("alerts", "--format", "json")
    return [(a["account_id"], a["type"], a["period"], str(a["level"])) for a in alerts]


def test_crafted_stream_fires_each_alert_once(cli: UsageflowCli, tmp_path: Path) -> None:
    (tmp_path / "accounts.yaml").write_text(ACCOUNTS)
    cli.run("accounts", "load", str(tmp_path / "accounts.yaml"))
    events = write(tmp_path / "all.jsonl", first_half() + second_half())
    cli.run("replay", str(events))
    keys = alert_keys(cli)
    assert sorted(keys) == sorted(EXPECTED)

    cli.run("replay", str(events))  # the same events again: every one is a duplicate
    assert sorted(alert_keys(cli)) == sorted(EXPECTED)

    alerts = cli.json("alerts", "--format", "json")
    daily = next(a for a in alerts if a["type"] == "daily_usage" and a["period"] == "2026-11-03")
    assert daily["value"] == "14000"
    assert datetime.fromisoformat(daily["triggered_at"]) == datetime(2026, 11, 3, 12, 0, 13, tzinfo=UTC)
    assert len({a["alert_id"] for a in alerts}) == len(alerts)


def wait_for(url: str, predicate, timeout: float = 60.0) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last: dict = {}
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                last = json.loads(response.read())
            if predicate(last):
                return last
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting on {url}: last {last}")


def test_sigkilled_worker_neither_repeats_nor_misses_alerts(cli: UsageflowCli, tmp_path: Path) -> None:
    (tmp_path / "accounts.yaml").write_text(ACCOUNTS)
    cli.run("accounts", "load", str(tmp_path / "accounts.yaml"))
    progress_url = f"http://127.0.0.1:{cli.env['USAGEFLOW_STREAM_HTTP_PORT']}/progress"

    worker = cli.popen("worker")
    try:
        cli.run("publish", str(write(tmp_path / "a.jsonl", first_half())))
        wait_for(progress_url, lambda p: p.get("stored", 0) >= len(first_half()))
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        before = alert_keys(cli)
        assert len(before) == len(set(before)) == 3  # concurrency, day 1, budget 0.5

        cli.run("publish", str(write(tmp_path / "b.jsonl", second_half())))
        cli.run("publish", str(tmp_path / "a.jsonl"))  # and a producer retrying the first half
        worker = cli.popen("worker")
        wait_for(progress_url, lambda p: p.get("consumed", 0) >= len(first_half()) + len(second_half()))
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    keys = alert_keys(cli)
    assert len(keys) == len(set(keys)), f"an alert repeated: {keys}"
    assert set(keys) == EXPECTED
