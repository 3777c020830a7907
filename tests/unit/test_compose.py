"""docker-compose.yml cannot run here (no Docker engine): check its structure and wiring."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_present(compose: dict) -> None:
    assert {"kafka", "clickhouse", "migrate", "worker"} <= set(compose["services"])


def test_images_are_pinned(compose: dict) -> None:
    for name, service in compose["services"].items():
        if "image" in service:
            image = service["image"]
            assert re.search(r":v?\d+(\.\d+)+$", image), f"{name}: image {image} is not pinned to a version"
        else:
            assert "build" in service, name
    assert (ROOT / "Dockerfile").exists()


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


def test_grafana_dashboard_queries_metrics_the_worker_exports(compose: dict) -> None:
    import json

    from usageflow.streams.metrics import WorkerMetrics

    dashboard = json.loads((ROOT / "deploy" / "grafana" / "usageflow-dashboard.json").read_text())
    exported = WorkerMetrics().render().decode()
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    names = {n for e in exprs for n in re.findall(r"usageflow_[a-z_]+", e)}
    for name in names:
        base = re.sub(r"_(bucket|total)$", "", name)
        assert base in exported, f"dashboard uses {name}, which the worker does not export"
    assert compose["services"]["prometheus"]["profiles"] == ["monitoring"]
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert scrape["scrape_configs"][0]["static_configs"][0]["targets"] == ["worker:6066"]
