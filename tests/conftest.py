"""Shared fixtures. Infrastructure fixtures live in tests/fixtures/ and are factories.

chDB allows one path per process, so a test run opens one embedded path and gives every test
its own database in it (the clickhouse-connect test suite does the same on a server).
`USAGEFLOW_TEST_CLICKHOUSE_URL` points the same tests at a ClickHouse server instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.fixtures.environment import docker_available
from usageflow.warehouse import Warehouse, open_warehouse
from usageflow.warehouse.migrate import migrate

pytest_plugins = ["tests.fixtures.broker", "tests.fixtures.cli"]

# Property tests check behaviour, not speed (speed is what `make bench` measures): no
# per-example deadline, which a busy machine would turn into false failures.
settings.register_profile("usageflow", deadline=None)
settings.load_profile("usageflow")


def _warehouse_backends() -> list[str]:
    backends = ["chdb"]
    if os.environ.get("USAGEFLOW_TEST_CLICKHOUSE_URL"):
        backends.append("server")
    elif not os.environ.get("USAGEFLOW_TEST_NO_DOCKER") and docker_available():
        backends.append("docker")
    return backends


@pytest.fixture(scope="session", params=_warehouse_backends())
def warehouse_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """chDB always; a ClickHouse server too when configured or when Docker can start one."""
    if request.param == "chdb":
        path: Path = tmp_path_factory.mktemp("chdb")
        url = f"chdb:{path}"
        # held for the whole run: closing chDB's last connection shuts the engine down, and a
        # restart per test cost ~0.3 s and ~10 leftover engine threads, which made late tests slow
        keeper = open_warehouse(url)
        try:
            yield url
        finally:
            keeper.close()
    elif request.param == "server":
        yield os.environ["USAGEFLOW_TEST_CLICKHOUSE_URL"]
    else:
        from testcontainers.clickhouse import ClickHouseContainer

        with ClickHouseContainer("clickhouse/clickhouse-server:25.8", username="test", password="test") as ch:
            host, port = ch.get_container_host_ip(), ch.get_exposed_port(8123)
            yield f"clickhouse://test:test@{host}:{port}/usageflow"


@pytest.fixture
def warehouse_factory(warehouse_url: str) -> Iterator[Callable[..., Warehouse]]:
    """Make warehouses, each in a fresh database that is dropped afterwards."""
    made: list[Warehouse] = []

    def make(migrated: bool = True) -> Warehouse:
        database = f"test_{uuid.uuid4().hex[:12]}"
        wh = open_warehouse(warehouse_url, database=database)
        if migrated:
            migrate(wh)
        made.append(wh)
        return wh

    yield make
    for wh in made:
        wh.command(f"DROP DATABASE IF EXISTS `{wh.database}`")
        wh.close()


@pytest.fixture
def warehouse(warehouse_factory: Callable[..., Warehouse]) -> Warehouse:
    """A migrated warehouse in its own database."""
    return warehouse_factory()
