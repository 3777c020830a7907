"""Security settings reach the clients, secrets stay out of logs and errors."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import faust
import pytest

from usageflow.config import KafkaSettings, StreamSettings, WarehouseSettings
from usageflow.errors import WarehouseError
from usageflow.logs import JsonFormatter
from usageflow.streams.app import faust_broker_options
from usageflow.warehouse.client import open_warehouse, parse_warehouse_url

pytestmark = pytest.mark.unit
SECRET = "s3cr3t-Pa55"


def test_sasl_settings_reach_librdkafka_and_faust(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USAGEFLOW_KAFKA_BOOTSTRAP", "broker.internal:9094")
    monkeypatch.setenv("USAGEFLOW_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("USAGEFLOW_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("USAGEFLOW_KAFKA_SASL_USERNAME", "usageflow")
    monkeypatch.setenv("USAGEFLOW_KAFKA_SASL_PASSWORD", SECRET)
    kafka = KafkaSettings()
    conf = kafka.confluent_config()
    assert conf["security.protocol"] == "SASL_PLAINTEXT"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512"
    assert (conf["sasl.username"], conf["sasl.password"]) == ("usageflow", SECRET)
    options = faust_broker_options(kafka)
    assert options["broker"] == "kafka://broker.internal:9094"
    credentials = options["broker_credentials"]
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.username == "usageflow" and credentials.password == SECRET
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert SECRET not in repr(kafka)


def test_plaintext_needs_no_credentials() -> None:
    assert "broker_credentials" not in faust_broker_options(KafkaSettings(bootstrap="127.0.0.1:9092"))


def test_warehouse_password_never_in_errors_or_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"clickhouse://writer:{SECRET}@127.0.0.1:1/usageflow"  # port 1: refused at once
    monkeypatch.setenv("USAGEFLOW_WAREHOUSE", url)
    assert SECRET not in repr(WarehouseSettings())
    assert SECRET not in parse_warehouse_url(url).describe()
    with pytest.raises(WarehouseError) as info:
        open_warehouse(url)
    assert SECRET not in str(info.value)
    assert "\n" not in str(info.value)


def test_http_endpoint_binds_loopback_by_default() -> None:
    assert StreamSettings().http_host == "127.0.0.1"


def test_json_logs_carry_extra_fields() -> None:
    record = logging.LogRecord("usageflow.test", logging.INFO, __file__, 1, "batch stored", None, None)
    record.stored = 12
    record.steps_s = {"insert": 0.25, "odd": object()}
    record.when = datetime(2026, 11, 30, tzinfo=UTC)
    record.pairs = {("a", 1): 2}  # a key JSON cannot have: the whole value as its repr
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "batch stored" and line["stored"] == 12 and line["level"] == "info"
    assert line["steps_s"]["insert"] == 0.25 and line["steps_s"]["odd"].startswith("<object")
    assert line["when"] == repr(record.when) and line["pairs"] == repr(record.pairs)
