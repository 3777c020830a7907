"""Dead letters end to end: bad records are kept with a reason, fixed ones bill exactly once;
hostile strings in ids never change a query."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.cli import UsageflowCli

pytestmark = pytest.mark.integration


def ev(event_id: str, model: str = "qwen-max", account: str = "edu-9", tokens: int = 100_000) -> dict[str, object]:
    return {
        "schema_version": 1,
        "event_id": event_id,
        "account_id": account,
        "api_key_id": "k",
        "model": model,
        "region": "us-west",
        "input_tokens": tokens,
        "output_tokens": 0,
        "ts": "2026-11-05T10:00:00+08:00",
        "latency_ms": 50,
    }


def write(path: Path, lines: list[object]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def usage_amount(cli: UsageflowCli, account: str) -> tuple[int, str]:
    (invoice,) = cli.json("invoice", "--month", "2026-11", "--account", account, "--format", "json")
    usage = next(line for line in invoice["lines"] if line["kind"] == "usage")
    return invoice["tokens"], usage["amount"]


def test_fixing_the_price_book_and_replaying_dead_letters_bills_once(
    cli_factory,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    cli = cli_factory()
    lines: list[object] = [
        ev("ok-1"),
        ev("coder-1", model="deepseek-coder"),
        ev("coder-2", model="deepseek-coder"),
        '{"schema_version": 1, "event_id": "half"',
        {**ev("neg"), "input_tokens": -3},
    ]
    out = cli.run("replay", str(write(tmp_path / "e.jsonl", lines))).stdout
    assert "published 3, rejected 2" in out
    reasons = sorted(d["reason"] for d in cli.json("dlq", "list", "--format", "json"))
    assert reasons == ["invalid_json", "schema", "unknown_model", "unknown_model"]
    assert usage_amount(cli, "edu-9") == (100_000, "0.60")

    book = tmp_path / "book.yaml"
    book.write_text(
        "models:\n"
        "  qwen-max: {multiplier: '1.0', flagship: true}\n"
        "  deepseek-coder: {input_per_1k: '0.002', output_per_1k: '0.004'}\n"
    )
    fixed = cli_factory("main", USAGEFLOW_PRICE_BOOK=str(book))
    for _ in range(2):  # replaying twice must not bill twice
        fixed.run("dlq", "replay", "--reason", "unknown_model")
        fixed.run("replay", str(write(tmp_path / "none.jsonl", [])))
    # 100,000 qwen-max at 0.006 + 200,000 deepseek-coder input at 0.002: L = 1.00, tiers
    # (100,000 x 1.0 + 200,000 x 0.9) / 300,000: usage 1.00 x 0.9333... = 0.93
    assert usage_amount(fixed, "edu-9") == (300_000, "0.93")


def test_hostile_strings_in_ids_never_change_a_query(cli: UsageflowCli, tmp_path: Path) -> None:
    hostile = ["x'); DROP TABLE rated_events; --", "{accounts:Array(String)}", "\\' OR 1=1 --", "ünï\u0000cødé"]
    lines: list[object] = [ev(h, account="victim") for h in hostile]
    lines.append(ev("other", account="bystander", tokens=1))
    cli.run("replay", str(write(tmp_path / "h.jsonl", lines)))
    assert usage_amount(cli, "victim") == (400_000, "2.22")  # 4 distinct ids: L 2.40, tier factor 0.925
    for probe in ["victim' OR '1'='1", "bystander') OR ('1'='1", "x\\'"]:
        done = cli.run("invoice", "--month", "2026-11", "--account", probe, "--format", "json", check=False)
        if done.returncode == 0:
            invoices = json.loads(done.stdout)
            assert all(i["account_id"] == probe and i["tokens"] == 0 for i in invoices)
        else:
            assert done.returncode in (1, 2) and done.stderr.count("\n") <= 1
    assert usage_amount(cli, "bystander") == (1, "0.00")
