"""Provider usage end to end: publish lines and Python events carrying the providers' own usage,
the real broker, the worker, chDB; the events are billed at the token-type prices, and
`usageflow reconcile` answers the same through the running worker and without it."""

from __future__ import annotations

import json
import signal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import provider_usage as docs
from tests.fixtures.cli import UsageflowCli
from tests.integration.test_alerts_stream import wait_for
from usageflow.bus.admin import ensure_topics
from usageflow.bus.producer import Publisher
from usageflow.config import KafkaSettings, TopicSettings

pytestmark = pytest.mark.integration

# Token-type prices per 1,000 tokens for qwen-max (docs/pricing.md §10); the other models keep
# their defaults.
PRICES = {"input": "0.006", "cached_input": "0.0012", "cache_write": "0.0075", "output": "0.012", "reasoning": "0.024"}
PRICE_BOOK = f"""
models:
  qwen-max:
    flagship: true
    input_per_1k: "{PRICES["input"]}"
    cached_input_per_1k: "{PRICES["cached_input"]}"
    cache_write_per_1k: "{PRICES["cache_write"]}"
    output_per_1k: "{PRICES["output"]}"
    reasoning_per_1k: "{PRICES["reasoning"]}"
  qwen-plus: {{multiplier: "0.8"}}
  qwen-turbo: {{multiplier: "0.6"}}
"""

OPENAI_USAGE = {
    "prompt_tokens": 60000,
    "completion_tokens": 20000,
    "total_tokens": 80000,
    "prompt_tokens_details": {"cached_tokens": 50000},
    "completion_tokens_details": {"reasoning_tokens": 15000},
}
DASHSCOPE_USAGE = {
    "input_tokens": 40000,
    "output_tokens": 3000,
    "total_tokens": 43000,
    "prompt_tokens_details": {"cached_tokens": 30000, "cache_creation_input_tokens": 5000},
}


def list_cost(uncached: int, cached: int, written: int, output: int, reasoning: int) -> Fraction:
    """docs/pricing.md §10 at the prices above (peak, us-west: both multipliers 1)."""
    p = {k: Fraction(v) for k, v in PRICES.items()}
    return (
        uncached * p["input"]
        + cached * p["cached_input"]
        + written * p["cache_write"]
        + (output - reasoning) * p["output"]
        + reasoning * p["reasoning"]
    ) / 1000


def fen(value: Fraction) -> str:
    cents = int(value * 100 + Fraction(1, 2))
    return f"{cents // 100}.{cents % 100:02d}"


def event(account: str, n: int, **over: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "event_id": f"{account}-{n}",
        "account_id": account,
        "api_key_id": "key-1",
        "model": "qwen-max",
        "region": "us-west",
        "ts": "2026-11-10T14:00:00+08:00",  # peak hours in Asia/Shanghai
        "latency_ms": 900,
        **over,
    }


def test_provider_usage_is_billed_at_token_type_prices(cli: UsageflowCli, tmp_path: Path) -> None:
    book = tmp_path / "price-book.yaml"
    book.write_text(PRICE_BOOK)
    cli.env["USAGEFLOW_PRICE_BOOK"] = str(book)
    lines = [
        # Anthropic: a whole Message (its text must not be kept), provider cost given
        event("anthropic", 1, provider="anthropic", provider_usage=docs.ANTHROPIC_MESSAGE, provider_cost="0.05"),
        # OpenAI: the chunks of a stream, of which the last carries the usage
        event(
            "openai",
            1,
            provider="openai",
            provider_usage=[*docs.OPENAI_STREAM[:2], {**docs.OPENAI_STREAM[2], "usage": OPENAI_USAGE}],
        ),
        # refused: cached tokens above the prompt, never guessed
        event("bad", 1, provider="openai", provider_usage={**OPENAI_USAGE, "prompt_tokens": 40000}),
    ]
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    base = f"http://127.0.0.1:{cli.env['USAGEFLOW_STREAM_HTTP_PORT']}"

    worker = cli.popen("worker")
    try:
        report = cli.json("publish", str(source), "--format", "json")
        assert (report["published"], report["rejected"]) == (2, 1)
        assert report["rejections"][0]["reason"] == "schema"
        assert "exceed prompt_tokens (40000)" in report["rejections"][0]["message"]

        kafka = KafkaSettings(bootstrap=cli.env["USAGEFLOW_KAFKA_BOOTSTRAP"])
        topics = TopicSettings(topic_prefix=cli.env["USAGEFLOW_TOPIC_PREFIX"])
        ensure_topics(kafka, topics)
        with Publisher(kafka, topics) as publisher:  # the Python API, usage given beside the event
            publisher.publish_event(event("dashscope", 1, provider_cost="0.1"), DASHSCOPE_USAGE, "dashscope")

        wait_for(f"{base}/progress", lambda p: p.get("stored", 0) >= 3, timeout=90)
        through_worker = cli.json("reconcile", "--month", "2026-11", "--by-account", "--format", "json")
        invoices = cli.json("invoice", "--month", "2026-11", "--format", "json")
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0

    anthropic = list_cost(uncached=50, cached=100000, written=248, output=503, reasoning=0)
    openai = list_cost(uncached=10000, cached=50000, written=0, output=20000, reasoning=15000)
    dashscope = list_cost(uncached=5000, cached=30000, written=5000, output=3000, reasoning=0)
    assert (fen(anthropic), fen(openai), fen(dashscope)) == ("0.13", "0.54", "0.14")
    rows = {r["account_id"]: r for r in through_worker}
    assert sorted(rows) == ["anthropic", "dashscope", "openai"]
    assert rows["anthropic"]["tokens"] == 100298 + 503  # every prompt token once, the cache included
    assert rows["anthropic"]["list_cost"] == fen(anthropic)
    assert (rows["anthropic"]["provider_cost"], rows["anthropic"]["events_without_provider_cost"]) == ("0.05", 0)
    assert (rows["openai"]["tokens"], rows["openai"]["list_cost"]) == (80000, fen(openai))
    assert rows["openai"]["events_without_provider_cost"] == 1
    assert (rows["dashscope"]["list_cost"], rows["dashscope"]["provider_cost"]) == (fen(dashscope), "0.10")
    # under 100,000 tokens a payg usage line is the list cost (tier 1): billed at the token-type prices
    usage = {i["account_id"]: i["lines"][0] for i in invoices}
    assert usage["openai"] == {"kind": "usage", "amount": "0.54", "tokens": 80000}
    assert rows["openai"]["billed"] == "0.54" and rows["openai"]["margin"] == "0.00"
    # the worker stopped: the CLI opens the warehouse itself and sees the same
    assert cli.json("reconcile", "--month", "2026-11", "--by-account", "--format", "json") == through_worker
    by_model = cli.json("reconcile", "--month", "2026-11", "--format", "json")
    assert [r["model"] for r in by_model] == ["qwen-max"] and by_model[0]["events_without_provider_cost"] == 1
    one = cli.json("reconcile", "--month", "2026-11", "--account", "dashscope", "--format", "json")
    assert one == [{k: v for k, v in rows["dashscope"].items() if k != "account_id"}]
    unknown = cli.run("reconcile", "--month", "2026-11", "--account", "nobody", check=False)
    assert unknown.returncode == 1 and "unknown account 'nobody'" in unknown.stderr
    dead = cli.json("dlq", "list", "--format", "json")
    assert [d["reason"] for d in dead] == ["schema"]
