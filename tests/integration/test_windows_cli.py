"""`usageflow windows` through the real command: each window once at its highest revision,
every one equal to the oracle's totals of the distinct events; `--follow` streaming jsonl."""

from __future__ import annotations

import json
import selectors
import signal
import time
from datetime import UTC, timedelta
from fractions import Fraction
from pathlib import Path

import orjson
import pytest
import yaml

from tests.fixtures.cli import UsageflowCli
from tests.integration.test_alerts_stream import wait_for
from tests.oracle import windows as ref
from usageflow.demo.generator import StreamShape, generate_lines
from usageflow.errors import ValidationFailure
from usageflow.pricing.price_book import load_price_book
from usageflow.pricing.rating import rate_event
from usageflow.schemas import Account, WindowAggregate
from usageflow.schemas.decode import decode_event

pytestmark = pytest.mark.integration

ACCOUNTS = """
- account_id: edu-001
  plan: standard
  timezone: Asia/Shanghai
- account_id: edu-002
  plan: starter
  timezone: America/Los_Angeles
"""
SHAPE = StreamShape(accounts=("edu-001", "edu-002"), span=timedelta(days=3), duplicate_rate=0.1, bad_rate=0.02)


def expected_windows(lines: list[bytes]) -> dict[tuple[str, ...], ref.Sums]:
    accounts = {a["account_id"]: Account.model_validate(a) for a in yaml.safe_load(ACCOUNTS)}
    book = load_price_book(None)
    distinct = {}
    for line in lines:
        try:
            event = decode_event(line)
            distinct[(event.account_id, event.event_id)] = rate_event(event, accounts.get(event.account_id), book)
        except ValidationFailure:
            continue
    return {
        (s.account_id, s.api_key_id, s.model, s.granularity, s.start.isoformat()): v
        for s, v in ref.aggregate(distinct.values()).items()
    }


def key_of(record: WindowAggregate) -> tuple[str, ...]:
    return (
        record.account_id,
        record.api_key_id,
        record.model,
        record.granularity,
        record.window_start.astimezone(UTC).isoformat(),
    )


def test_windows_prints_each_window_once_with_the_totals_of_its_events(cli: UsageflowCli, tmp_path: Path) -> None:
    (tmp_path / "accounts.yaml").write_text(ACCOUNTS)
    cli.run("accounts", "load", str(tmp_path / "accounts.yaml"))
    lines = list(generate_lines(600, SHAPE, seed=11))
    (tmp_path / "events.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    cli.run("replay", str(tmp_path / "events.jsonl"), timeout=300)
    want = expected_windows(lines)

    records = [WindowAggregate.model_validate(r) for r in cli.json("windows", "--format", "json")]
    assert len({r.window_id for r in records}) == len(records), "a window printed twice"
    for r in records:
        sums = want[key_of(r)]
        assert (r.requests, r.input_tokens, r.output_tokens, r.total_tokens) == (
            sums.requests,
            sums.input_tokens,
            sums.output_tokens,
            sums.input_tokens + sums.output_tokens,
        )
        assert Fraction(r.list_cost) == sums.list_cost
        assert r.revision >= 1
    # Everything but the last window of each kind per key and model is over and published.
    by_granularity = {g: sum(1 for r in records if r.granularity == g) for g in ("1m", "1h", "1d")}
    assert by_granularity["1d"] >= sum(1 for k in want if k[3] == "1d") - 2 * 8 * 3
    assert by_granularity["1m"] > 300

    days = cli.json("windows", "--format", "json", "--account", "edu-002", "--granularity", "1d")
    assert days and {(d["account_id"], d["granularity"]) for d in days} == {("edu-002", "1d")}
    assert all(d["window_start"].endswith(("-07:00", "-08:00")) for d in days)  # local midnights in LA
    jsonl = cli.run("windows", "--format", "jsonl", "--granularity", "1h").stdout.splitlines()
    assert len(jsonl) == by_granularity["1h"] and all(json.loads(x)["granularity"] == "1h" for x in jsonl)
    bad = cli.run("windows", "--granularity", "2h", check=False)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_windows_follow_streams_revisions_as_they_are_published(cli: UsageflowCli, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{cli.env['USAGEFLOW_STREAM_HTTP_PORT']}"
    worker = cli.popen("worker")
    follower = None
    try:
        wait_for(f"{base}/health", lambda h: h.get("status") == "ok", timeout=120)
        follower = cli.popen("windows", "--follow", "--format", "jsonl")
        time.sleep(2)
        events = [
            {"schema_version": 1, "event_id": f"f{n}", "account_id": "edu-009", "api_key_id": "k", "model": "qwen-max",
             "input_tokens": 100, "output_tokens": 50, "ts": ts, "latency_ms": 20}
            for n, ts in enumerate(["2026-11-20T10:00:05Z", "2026-11-20T10:00:45Z", "2026-11-20T10:02:00Z"])
        ]  # fmt: skip
        (tmp_path / "e.jsonl").write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
        cli.run("publish", str(tmp_path / "e.jsonl"))
        assert follower.stdout is not None
        got: list[dict[str, object]] = []
        deadline = time.monotonic() + 60
        waiting = selectors.DefaultSelector()  # epoll: a long test run's descriptors pass 1024
        waiting.register(follower.stdout, selectors.EVENT_READ)
        while not got and time.monotonic() < deadline:
            if waiting.select(timeout=1.0):
                got.append(json.loads(follower.stdout.readline()))
        waiting.close()
        assert got, "no window arrived within 60 s"
        first = WindowAggregate.model_validate(got[0])
        assert (first.account_id, first.granularity, first.requests, first.revision) == ("edu-009", "1m", 2, 1)
        assert str(got[0]["window_start"]) == "2026-11-20T10:00:00Z"
    finally:
        if follower is not None:
            follower.send_signal(signal.SIGTERM)
            assert follower.wait(timeout=30) in (0, 130)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
