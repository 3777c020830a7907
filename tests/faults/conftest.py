"""Fixtures of the fault suite: the generated stream (once per session), a no-fault baseline
replay of it (once per module), one isolated scenario per test, and the per-scenario summary
(printed at the end of the run and written to `<pytest basetemp>/faults-summary.json`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.support import (
    Baseline,
    FaultSettings,
    Scenario,
    StreamExpectation,
    server_database_url,
)
from tests.fixtures.cli import UsageflowCli
from usageflow.broker.local import free_port

# Distinct events per scenario unless USAGEFLOW_FAULT_EVENTS says otherwise: see the docstring
# of tests/faults/test_fault_scenarios.py for the measured throughput behind this number.
DEFAULT_EVENTS = 200_000

SUMMARY: list[dict[str, Any]] = []


@pytest.fixture(scope="session")
def fault_settings() -> FaultSettings:
    return FaultSettings.from_env(DEFAULT_EVENTS)


@pytest.fixture(scope="session")
def fault_stream(fault_settings: FaultSettings) -> StreamExpectation:
    return StreamExpectation.build(fault_settings)


@pytest.fixture(scope="session")
def fault_summary(tmp_path_factory: pytest.TempPathFactory) -> Callable[[dict[str, Any]], None]:
    path = tmp_path_factory.getbasetemp() / "faults-summary.json"

    def add(record: dict[str, Any]) -> None:
        SUMMARY.append(record)
        path.write_text(json.dumps(SUMMARY, indent=2, default=str))
        print(f"\n[faults] {format_record(record)}", flush=True)

    return add


def format_record(r: dict[str, Any]) -> str:
    lives = r.get("worker_lives") or []
    return (
        f"{r['scenario']}: {r.get('elapsed_s')} s; lines sent {r.get('lines_sent')} "
        f"(events topic {r.get('records_in_events_topic')}); billed {r.get('billed_stored')}"
        f"/{r.get('billed_expected')}; dead-lettered {r.get('dead_lettered')} {r.get('dead_lettered_by_reason')}"
        f" (dlq topic {r.get('dlq_topic_records')}); alerts {r.get('alerts_fired')}"
        f" (baseline {r.get('alerts_baseline')}); worker lives {len(lives)}; "
        f"failures {len(r.get('failures') or [])}"
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not SUMMARY:
        return
    terminalreporter.section("fault scenarios")
    for record in SUMMARY:
        terminalreporter.write_line(format_record(record))
        phases = ", ".join(f"{k} {v}" for k, v in (record.get("phases_s") or {}).items())
        if phases:
            terminalreporter.write_line(f"    phases (s since start): {phases}")
        for note in record.get("notes") or []:
            terminalreporter.write_line(f"    note: {note[:300]}")
        for failure in record.get("failures") or []:
            terminalreporter.write_line(f"    FAILED: {failure[:600]}")


def scenario_env(bootstrap: str, prefix: str, home: Path, warehouse: str) -> dict[str, str]:
    """The same isolation as tests/fixtures/cli.py's `cli_factory`."""
    return {
        **os.environ,
        "USAGEFLOW_KAFKA_BOOTSTRAP": bootstrap,
        "USAGEFLOW_TOPIC_PREFIX": prefix,
        "USAGEFLOW_DATA_DIR": str(home / "data"),
        "USAGEFLOW_WAREHOUSE": warehouse,
        "USAGEFLOW_STREAM_HTTP_PORT": str(free_port()),
        "USAGEFLOW_STREAM_FLUSH_INTERVAL_S": "0.3",
    }


def warehouse_url_for(settings: FaultSettings, home: Path, name: str) -> str:
    """A chDB path of the scenario's own, or a database of its own on the ClickHouse server."""
    if settings.server_url:
        return server_database_url(settings.server_url, f"faults_{name.replace('-', '_')}_{uuid.uuid4().hex[:8]}")
    return f"chdb:{home / 'warehouse'}"


def drop_server_database(env: dict[str, str]) -> None:
    code = (
        "import os; from usageflow.warehouse import open_warehouse; "
        "wh = open_warehouse(os.environ['USAGEFLOW_WAREHOUSE']); "
        "wh.command(f'DROP DATABASE IF EXISTS `{wh.database}`')"
    )
    subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def baseline(
    kafka_bootstrap: str,
    tmp_path_factory: pytest.TempPathFactory,
    fault_settings: FaultSettings,
    fault_stream: StreamExpectation,
    fault_summary: Callable[[dict[str, Any]], None],
) -> Iterator[Baseline]:
    """The same stream without faults, on the session broker under its own topic prefix: the
    chunks published as in the scenarios, then `usageflow replay` of nothing, which processes
    the topic to its end and exits. Its alerts are the set no scenario may miss or repeat."""
    home = tmp_path_factory.mktemp("faults-baseline")
    prefix = f"fb{uuid.uuid4().hex[:8]}."
    env = scenario_env(kafka_bootstrap, prefix, home, warehouse_url_for(fault_settings, home, "baseline"))
    cli = UsageflowCli(env=env, workdir=home)
    scenario = Scenario("baseline-no-faults", cli, home, kafka_bootstrap, prefix, fault_stream)
    scenario.load_accounts()
    publisher = scenario.publisher(pause_s=0.0)
    publisher.run()  # in this thread
    if publisher.error:
        scenario.fail(f"publishing: {publisher.error}")
    scenario.mark("published")
    empty = home / "nothing.jsonl"
    empty.write_text("")
    done = cli.run("replay", str(empty), timeout=scenario.deadline(), check=False)
    scenario.mark("processed")
    if done.returncode != 0:
        scenario.fail(f"replay exited {done.returncode}: {done.stderr[-800:]}")
    scenario.note(done.stdout.strip())
    scenario.verify(None, publisher)
    scenario.finish(fault_summary)
    yield Baseline(scenario.alert_keys, scenario.failures, scenario.record)
    if fault_settings.server_url:
        drop_server_database(env)


@pytest.fixture
def make_scenario(
    cli_factory: Callable[..., UsageflowCli],
    tmp_path: Path,
    fault_settings: FaultSettings,
    fault_stream: StreamExpectation,
) -> Iterator[Callable[..., Scenario]]:
    """make(name, **env) -> a Scenario with its own topics, data dir and warehouse; every
    worker it started is killed at teardown."""
    made: list[Scenario] = []

    def make(name: str, **extra_env: str) -> Scenario:
        home = tmp_path / "main"
        home.mkdir(exist_ok=True)
        cli = cli_factory("main", warehouse=warehouse_url_for(fault_settings, home, name), **extra_env)
        scenario = Scenario(
            name,
            cli,
            home,
            cli.env["USAGEFLOW_KAFKA_BOOTSTRAP"],
            cli.env["USAGEFLOW_TOPIC_PREFIX"],
            fault_stream,
        )
        made.append(scenario)
        return scenario

    yield make
    for scenario in made:
        scenario.stop_everything()
        if fault_settings.server_url:
            drop_server_database(scenario.cli.env)
