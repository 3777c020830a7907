"""docker-compose.yml cannot run here (no Docker engine): check it against the Compose
specification's JSON Schema, the apache/kafka image's documented settings, and its wiring; and
the monitoring files against the metrics the worker really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from usageflow.broker.local import KAFKA_VERSION

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_present(compose: dict) -> None:
    assert {"kafka", "clickhouse", "migrate", "worker"} <= set(compose["services"])


USAGEFLOW_SERVICES = ("migrate", "worker", "cli")


def test_compose_file_is_valid_against_the_compose_specification(compose: dict) -> None:
    # tests/data/compose-spec.json: the schema of the Compose specification (see tests/data/README.md)
    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=str)
    assert not errors, [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors]


def test_the_schema_check_can_fail() -> None:
    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
    broken = {"services": {"kafka": {"image": "x", "ports": "29092"}}}
    assert list(jsonschema.Draft7Validator(schema).iter_errors(broken))


def test_third_party_images_are_pinned(compose: dict) -> None:
    for name, service in compose["services"].items():
        if name in USAGEFLOW_SERVICES:
            continue
        image = service["image"]
        assert re.search(r":v?\d+(\.\d+)+$", image), f"{name}: image {image} is not pinned to a version"


def test_one_image_runs_every_usageflow_service(compose: dict) -> None:
    services = compose["services"]
    builders = [name for name, s in services.items() if "build" in s]
    assert builders == ["migrate"], builders
    images = {services[name]["image"] for name in USAGEFLOW_SERVICES}
    assert len(images) == 1, images
    for name in ("worker", "cli"):
        assert services[name]["pull_policy"] == "never", name  # the image is built, never pulled
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
    assert (ROOT / "Dockerfile").exists()


def test_kafka_is_the_release_of_the_local_broker_and_the_tests(compose: dict) -> None:
    assert compose["services"]["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"
    broker_fixture = (ROOT / "tests" / "fixtures" / "broker.py").read_text()
    assert "apache/kafka:{KAFKA_VERSION}" in broker_fixture
    assert "confluentinc" not in broker_fixture


def kafka_property(env_name: str) -> str:
    """The apache/kafka image's documented mapping of an environment variable to a broker
    property: drop KAFKA_, `___` -> `-`, `__` -> `_`, `_` -> `.`, lower case."""
    name = env_name.removeprefix("KAFKA_")
    return name.replace("___", "\0").replace("__", "\1").replace("_", ".").replace("\0", "-").replace("\1", "_").lower()


def test_kafka_env_mapping_follows_the_image_documentation() -> None:
    assert kafka_property("KAFKA_ABC_DEF") == "abc.def"
    assert kafka_property("KAFKA_ABC___DEF") == "abc-def"
    assert kafka_property("KAFKA_ABC__DEF") == "abc_def"


def test_kafka_keeps_its_log_dirs_on_the_volume(compose: dict) -> None:
    kafka = compose["services"]["kafka"]
    props = {kafka_property(k): str(v) for k, v in kafka["environment"].items() if k.startswith("KAFKA_")}
    # Without log.dirs the image keeps its data under /tmp/kraft-combined-logs, in the container.
    log_dirs = props["log.dirs"].split(",")
    mounts = {m.split(":")[1]: m.split(":")[0] for m in kafka["volumes"]}
    for directory in log_dirs:
        assert any(directory == target or directory.startswith(target + "/") for target in mounts), directory
        assert not directory.startswith("/tmp"), directory
    assert mounts["/var/lib/kafka/data"] in compose["volumes"]  # a named volume, kept across `down`/`up`
    # A fixed cluster id (22 base64url characters: 16 bytes), so a re-created container reuses the volume.
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", str(kafka["environment"]["CLUSTER_ID"]))
    assert props["process.roles"] == "broker,controller"


def test_passwords_have_no_defaults() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "change-me" not in text
    for variable in ("USAGEFLOW_WRITER_PASSWORD", "USAGEFLOW_ANALYST_PASSWORD", "GRAFANA_ADMIN_PASSWORD"):
        uses = re.findall(r"\$\{" + variable + r"([^}]*)\}", text)
        assert uses, variable
        for use in uses:
            assert use.startswith(":?") and len(use) > 2, f"${{{variable}{use}}} must refuse to start without it"


def test_ports_bound_to_loopback(compose: dict) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_healthchecks_and_start_order(compose: dict) -> None:
    services = compose["services"]
    for name in ("kafka", "clickhouse", "worker"):
        assert "healthcheck" in services[name], name
    worker_deps = services["worker"]["depends_on"]
    assert worker_deps["kafka"]["condition"] == "service_healthy"
    assert worker_deps["clickhouse"]["condition"] == "service_healthy"
    assert worker_deps["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["migrate"]


def test_worker_wiring_points_at_the_compose_services(compose: dict) -> None:
    env = compose["services"]["worker"]["environment"]
    assert env["USAGEFLOW_KAFKA_BOOTSTRAP"].split(":")[0] == "kafka"
    assert "@clickhouse:8123/" in env["USAGEFLOW_WAREHOUSE"]
    kafka_env = compose["services"]["kafka"]["environment"]
    assert "PLAINTEXT://kafka:9092" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper


def test_clickhouse_has_no_passwordless_default_user(compose: dict) -> None:
    users = (ROOT / "deploy" / "clickhouse" / "users.xml").read_text()
    assert '<default remove="remove"/>' in users
    assert "usageflow_writer" in users and "usageflow_analyst" in users
    assert "<readonly>1</readonly>" in users
    mounts = compose["services"]["clickhouse"]["volumes"]
    assert any("users.xml" in m for m in mounts)


def exported_series() -> set[str]:
    """Every series name the worker's /metrics can show, from a rendered WorkerMetrics with one
    child per labelled metric (a labelled metric without children renders no sample)."""
    from prometheus_client.parser import text_string_to_metric_families

    from usageflow.streams.metrics import WorkerMetrics

    metrics = WorkerMetrics()
    metrics.dead_letters.labels("schema").inc()
    metrics.alerts.labels("budget").inc()
    metrics.lag.labels("0").set(1)
    text = metrics.render().decode()
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def monitoring_queries() -> list[str]:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "usageflow-dashboard.json").read_text())
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "rules.yml").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    return exprs


def test_dashboard_and_rules_query_only_series_the_worker_exports() -> None:
    exported = exported_series()
    exprs = monitoring_queries()
    assert len(exprs) >= 10
    for expr in exprs:
        for name in re.findall(r"usageflow_[a-z_]+", expr):
            assert name in exported, f"{expr!r} uses {name}, which the worker does not export"


def test_metric_names_carry_their_units() -> None:
    exported = exported_series()
    assert "usageflow_consumer_lag_messages" in exported
    assert "usageflow_flush_seconds_bucket" in exported
    assert "usageflow_last_flush_timestamp_seconds" in exported
    for name in exported - {n for n in exported if n.endswith("_created")}:  # counters' start times
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert base.endswith(("_total", "_seconds", "_messages", "_records")) or base in {
            "usageflow_warehouse_unavailable"  # a 0/1 state, unitless like `up`
        }, name


def test_lag_is_never_summed_across_workers() -> None:
    """Every worker reports the group's lag of every partition: a plain sum counts it N times."""
    for expr in monitoring_queries():
        for use in re.finditer(r"usageflow_consumer_lag_messages", expr):
            before = expr[: use.start()]
            assert before.rstrip().endswith("max by (partition) ("), expr


def test_quantiles_are_taken_over_buckets_summed_by_le() -> None:
    quantiles = [e for e in monitoring_queries() if "histogram_quantile" in e]
    assert quantiles
    for expr in quantiles:
        assert re.search(r"histogram_quantile\([0-9.]+, sum by \(le\) \(rate\(usageflow_[a-z_]+_bucket\[", expr), expr


def test_monitoring_is_wired(compose: dict) -> None:
    assert compose["services"]["prometheus"]["profiles"] == ["monitoring"]
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert scrape["scrape_configs"][0]["static_configs"][0]["targets"] == ["worker:6066"]
    assert scrape["rule_files"] == ["/etc/prometheus/rules.yml"]
    mounts = compose["services"]["prometheus"]["volumes"]
    assert "./deploy/prometheus/rules.yml:/etc/prometheus/rules.yml:ro" in mounts
