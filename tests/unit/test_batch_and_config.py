"""Batch processing (validate, dedupe within the batch, rate), warehouse URLs, price book files."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from usageflow.config import KafkaSettings
from usageflow.errors import ConfigError, PriceBookError
from usageflow.ingest.batch import RawRecord, process_batch
from usageflow.pricing.price_book import PriceBook, load_price_book
from usageflow.schemas import Account
from usageflow.warehouse.client import parse_warehouse_url

pytestmark = pytest.mark.unit


def record(offset: int, value: object) -> RawRecord:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return RawRecord(key=b"a", value=raw, topic="usage.events", partition=0, offset=offset)


def event(event_id: str, account: str = "a", **over: object) -> dict[str, object]:
    data: dict[str, object] = {
        "schema_version": 1,
        "event_id": event_id,
        "account_id": account,
        "api_key_id": "k",
        "model": "qwen-max",
        "input_tokens": 1000,
        "output_tokens": 1000,
        "ts": "2026-11-28T10:00:00+08:00",
        "latency_ms": 5,
    }
    data.update(over)
    return data


def test_batch_sorts_good_bad_and_duplicates() -> None:
    records = [
        record(0, event("e1")),
        record(1, event("e1")),  # duplicate in the batch
        record(2, event("e1", account="b")),  # same id, other account: a different event
        record(3, b"{oops"),
        record(4, event("e2", model="nope")),
        record(5, event("e3", region="nowhere")),
        record(6, event("e4", input_tokens=-5)),
    ]
    outcome = process_batch(records, lambda _a: None, PriceBook())
    assert [(r.event.account_id, r.event.event_id) for r in outcome.rated] == [("a", "e1"), ("b", "e1")]
    assert outcome.duplicates_in_batch == 1
    assert [(r.record.offset, r.reason) for r in outcome.rejected] == [
        (3, "invalid_json"),
        (4, "unknown_model"),
        (5, "unknown_region"),
        (6, "schema"),
    ]


def test_batch_uses_the_account_time_zone() -> None:
    accounts = {"a": Account(account_id="a", plan="standard", timezone="America/Los_Angeles")}
    outcome = process_batch([record(0, event("e1", ts="2026-12-01T02:00:00+08:00"))], accounts.get, PriceBook())
    assert outcome.rated[0].billing_month == "2026-11"


@pytest.mark.parametrize(
    ("url", "kind", "detail"),
    [
        ("chdb:./wh", "chdb", "wh"),
        ("chdb:///var/lib/wh", "chdb", "/var/lib/wh"),
        ("clickhouse://u:p%40ss@ch.local:8124/billing", "clickhouse", "billing"),
        ("clickhouse://ch.local", "clickhouse", "usageflow"),
    ],
)
def test_warehouse_urls(url: str, kind: str, detail: str) -> None:
    target = parse_warehouse_url(url)
    assert target.kind == kind
    if kind == "chdb":
        assert str(target.path).endswith(detail)
    else:
        assert target.database == detail
        assert "p@ss" not in target.describe()


@pytest.mark.parametrize("url", ["mysql://x", "chdb:", "clickhouse://h/bad-name;drop"])
def test_bad_warehouse_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_warehouse_url(url)


def test_price_book_file_overrides_defaults(tmp_path: Path) -> None:
    path = tmp_path / "book.yaml"
    path.write_text(
        "models:\n  qwen-max: {multiplier: '1.0', flagship: true}\n"
        "  deepseek-coder: {input_per_1k: '0.002', output_per_1k: '0.008'}\n"
    )
    book = load_price_book(path)
    assert book.input_per_1k("deepseek-coder") == Decimal("0.002")
    assert book.output_per_1k("deepseek-coder") == Decimal("0.008")
    assert "qwen-plus" not in book.models
    assert book.tiers == PriceBook().tiers


@pytest.mark.parametrize(
    "text",
    [
        "tiers: [{start: 10, multiplier: '1'}]",
        "billing_timezone: Mars/Olympus",
        "plans: {payg: {monthly_tokens: 1, max_concurrent: 1, monthly_fee: '1'}}",
        "{{{",
    ],
)
def test_bad_price_books_fail_in_one_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "book.yaml"
    path.write_text(text)
    with pytest.raises(PriceBookError) as info:
        load_price_book(path)
    assert "\n" not in str(info.value)


def test_secrets_are_not_in_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USAGEFLOW_KAFKA_SASL_PASSWORD", "hunter2-secret")
    settings = KafkaSettings()
    assert "hunter2-secret" not in repr(settings) and "hunter2-secret" not in str(settings)
    assert settings.confluent_config()["sasl.password"] == "hunter2-secret"


def test_price_book_rejects_prices_too_precise_for_exact_storage(tmp_path: Path) -> None:
    path = tmp_path / "book.yaml"
    path.write_text("models:\n  m: {input_per_1k: '0.0000000123', output_per_1k: '0.001'}\n")
    with pytest.raises(PriceBookError, match="decimal places"):
        load_price_book(path)
