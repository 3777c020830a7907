"""End to end through the real command: Kafka -> Faust worker -> ClickHouse (chDB) -> invoice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.cli import UsageflowCli
from tests.fixtures.spec_examples import CLI_MD_INVOICE

pytestmark = pytest.mark.integration

ACCOUNTS = """
- account_id: edu-001
  plan: standard
  contract_months: 12
  educational: true
"""


def event(n: int, tokens: int, **over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "schema_version": 1,
        "event_id": f"e-{n}",
        "account_id": "edu-001",
        "api_key_id": "key-a",
        "model": "qwen-max",
        "region": "us-west",
        "input_tokens": tokens // 2,
        "output_tokens": tokens - tokens // 2,
        "ts": f"2026-11-{10 + n % 10:02d}T14:00:00+08:00",  # peak hours in Asia/Shanghai
        "latency_ms": 800,
    }
    base.update(over)
    return base


def write_lines(path: Path, items: list[object]) -> Path:
    path.write_text("\n".join(i if isinstance(i, str) else json.dumps(i) for i in items) + "\n")
    return path


def cli_example_events(tmp_path: Path) -> Path:
    """docs/cli.md's worked example: 2,500,000 qwen-max peak us-west tokens, plus noise that must
    not change the bill: a duplicate, an invalid line and an unknown model."""
    events: list[object] = [event(n, 500_000) for n in range(5)]
    events.append(event(2, 500_000))  # producer retry of e-2
    events.append("{broken json")
    events.append(event(99, 1000, model="gpt-unknown"))
    return write_lines(tmp_path / "events.jsonl", events)


# docs/cli.md, "JSON shapes": the invoice of this account and month, to the fen.
EXPECTED_INVOICE = CLI_MD_INVOICE


def test_replay_bills_the_cli_example_exactly(cli: UsageflowCli, tmp_path: Path) -> None:
    (tmp_path / "accounts.yaml").write_text(ACCOUNTS)
    cli.run("accounts", "load", str(tmp_path / "accounts.yaml"))
    out = cli.run("replay", str(cli_example_events(tmp_path))).stdout
    assert "published 7, rejected 1" in out

    assert cli.json("invoice", "--month", "2026-11", "--format", "json") == EXPECTED_INVOICE

    dead = cli.json("dlq", "list", "--format", "json")
    assert sorted(d["reason"] for d in dead) == ["invalid_json", "unknown_model"]
    unknown = next(d for d in dead if d["reason"] == "unknown_model")
    assert json.loads(unknown["original_text"])["model"] == "gpt-unknown"


def test_replaying_the_same_file_twice_changes_no_invoice(cli: UsageflowCli, tmp_path: Path) -> None:
    (tmp_path / "accounts.yaml").write_text(ACCOUNTS)
    cli.run("accounts", "load", str(tmp_path / "accounts.yaml"))
    events = cli_example_events(tmp_path)
    cli.run("replay", str(events))
    first = cli.json("invoice", "--month", "2026-11", "--format", "json")
    out = cli.run("replay", str(events)).stdout
    assert "stored 0" in out
    assert cli.json("invoice", "--month", "2026-11", "--format", "json") == first == EXPECTED_INVOICE


def test_unknown_account_is_billed_payg(cli: UsageflowCli, tmp_path: Path) -> None:
    # docs/pricing.md §3 example: 600,000 flagship peak tokens in us-west, payg: usage 3.24.
    events = [event(n, 200_000, account_id="walk-in") for n in range(3)]
    cli.run("replay", str(write_lines(tmp_path / "e.jsonl", events)))
    (invoice,) = cli.json("invoice", "--month", "2026-11", "--account", "walk-in", "--format", "json")
    assert invoice["plan"] == "payg"
    assert invoice["lines"] == [{"kind": "usage", "amount": "3.24", "tokens": 600000}]
    assert invoice["total"] == "3.24"


def test_errors_are_one_line(cli: UsageflowCli) -> None:
    done = cli.run("invoice", "--month", "2026-13", check=False)
    assert done.returncode == 2
    done = cli.run("publish", "/nonexistent/file.jsonl", check=False)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "cannot read" in done.stderr
