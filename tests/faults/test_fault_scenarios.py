"""Fault injection (issue 7): a generated stream replayed through the real `usageflow` commands
while the worker is SIGKILLed, the broker goes away, the warehouse refuses work, or a second
worker takes over. After each scenario:

* invoices (`usageflow invoice --month M --format json`, every month of the stream) equal the
  Python oracle (tests/oracle/billing.py) over the distinct valid events, rated with
  the product's own `rate_event` and the accounts loaded with `usageflow accounts load`;
* every bad record is in the dead-letter topic once (`usageflow dlq list`): the lines the
  publisher rejects (source `file:<chunk>`, line number) and the records the worker rejects
  (source = events topic partition/offset; compared with the bad records really in the topic);
* alerts (`usageflow alerts --format json`) are unique per (account, type, period, level) and
  exactly the set of a no-fault replay of the same stream (the module's baseline);
* the warehouse itself holds each event once (FINAL and raw distinct counts, the usage_windows
  count every stored event once, the alerts table agrees with the alerts topic);
* the windows invariant (tests/fixtures/windows.py): every window's highest stored revision (or
  open row) equals the aggregate of its stored events, and the windows topic's highest revision
  of every window equals the warehouse's.

The stream: `generate_lines(USAGEFLOW_FAULT_EVENTS, StreamShape(duplicate_rate=0.05,
bad_rate=0.02, accounts=...))`, published in chunk files by `usageflow publish` while the
worker runs (accounts: tests/faults/support.py ACCOUNTS_YAML, loaded first).

Size: 200,000 events by default (213,834 lines with duplicates and bad lines). Measured here
(2 cores, at commit a33df13, three runs in a row on a fresh clone): generating the stream takes
~9 s, publishing it ~12 s, one worker processes it in ~35 s; baseline replay ~66 s, SIGKILL
~80 s, broker down ~100 s, warehouse writes failing ~78 s, warehouse held at start ~73 s,
second worker ~59 s (8.5 min in all, with test_crash_windows.py). On a slower or busier machine
lower it, e.g. USAGEFLOW_FAULT_EVENTS=60000 (~1 min per scenario). Other knobs:
USAGEFLOW_FAULT_SEED (7107), USAGEFLOW_FAULT_KILLS (4, at least 3), USAGEFLOW_FAULT_OUTAGE_S
(30), USAGEFLOW_FAULT_CHUNKS (8), USAGEFLOW_FAULT_TIMEOUT_S (hard per-test timeout, 900).

Scenario (d), a second worker joining and the first being killed, shares one warehouse. With a
ClickHouse server (USAGEFLOW_TEST_CLICKHOUSE_URL) both workers are live group members and the
partitions are rebalanced twice. With chDB, which allows one process per path, the second
worker is a standby on the same path: it waits outside the group and takes over when the first
dies. CI here runs the chDB form (no ClickHouse server: Debian's is from 2018 and there is no
Docker engine).

Per-scenario numbers (lines sent, billed, dead-lettered, alerts, elapsed, worker lives) are
printed (`-s`) and in the "fault scenarios" section of the terminal summary, and written to
`<pytest basetemp>/faults-summary.json`.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.faults.support import (
    HOLD_SCRIPT,
    Baseline,
    FaultSettings,
    Scenario,
    WorkerProcess,
    chattr_works,
    chdb_table_dir,
    immutable,
)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(int(os.environ.get("USAGEFLOW_FAULT_TIMEOUT_S", "900")))]

SERVER = os.environ.get("USAGEFLOW_TEST_CLICKHOUSE_URL")
NEEDS_CHDB = pytest.mark.skipif(
    bool(SERVER), reason="holds or freezes a chDB path; with a ClickHouse server there is no path to hold"
)


def _assert_clean(scenario: Scenario) -> None:
    assert not scenario.failures, f"{scenario.name}:\n- " + "\n- ".join(scenario.failures)


def _stop_final(scenario: Scenario, worker: WorkerProcess) -> None:
    """SIGTERM must store the batch in hand, commit and exit 0."""
    code = worker.sigterm()
    if code != 0:
        scenario.fail(f"{worker.label} exited {code} on SIGTERM after the stream was processed: {worker.tail(8)}")
    scenario.mark("worker stopped")


def _complete(
    s: Scenario,
    worker: WorkerProcess,
    publisher: Any,
    baseline: Baseline,
    fault_summary: Callable[[dict[str, Any]], None],
) -> None:
    """Wait until the last worker processed everything, stop it, check, report, assert."""
    if s.wait_processed([worker], publisher):
        _stop_final(s, worker)
    s.stop_everything()
    s.verify(baseline.alerts, publisher)
    s.finish(fault_summary)
    _assert_clean(s)


def test_baseline_without_faults(baseline: Baseline) -> None:
    """The same stream with no fault: the reference every scenario is held to must hold here."""
    assert not baseline.failures, "baseline:\n- " + "\n- ".join(baseline.failures)
    assert baseline.alerts, "the stream fires no alert: the alert checks would prove nothing"


# --- (a) SIGKILL ---------------------------------------------------------------------------


def kill_plan(rng: random.Random, kills: int, records: int) -> list[tuple[str, float, float]]:
    """(kind, value, jitter) per worker life: one life is killed while starting (after `value`
    seconds: imports, migrations, the accounts topic, joining the group), the others once they
    consumed `value` records (4-20 % of the stream each) plus `jitter` seconds, so that the kill
    lands anywhere in the store / send / commit cycle."""
    plan: list[tuple[str, float, float]] = [
        ("processing", rng.uniform(0.04, 0.20) * records, rng.uniform(0.0, 1.5)) for _ in range(kills - 1)
    ]
    plan.insert(rng.randrange(kills), ("startup", rng.uniform(0.5, 6.0), 0.0))
    return plan


def test_worker_sigkilled_at_random_points(
    make_scenario: Callable[..., Scenario],
    baseline: Baseline,
    fault_settings: FaultSettings,
    fault_summary: Callable[[dict[str, Any]], None],
) -> None:
    s = make_scenario("sigkill")
    rng = random.Random(fault_settings.seed)
    s.load_accounts()
    publisher = s.publisher()
    publisher.start()
    plan = kill_plan(rng, fault_settings.kills, len(s.exp.lines))
    for number, (kind, value, jitter) in enumerate(plan, start=1):
        worker = s.start_worker(label=f"life-{number}")
        if kind == "startup":
            time.sleep(value)
        else:
            s.wait_consumed(worker, int(value), timeout=150, publisher=publisher)
            time.sleep(jitter)
        if not worker.alive():
            s.fail(f"{worker.label} exited by itself with {worker.proc.returncode}: {worker.tail(8)}")
            continue
        worker.sigkill()
        s.note(
            f"SIGKILL {worker.label} ({kind} {value:.1f}{f' +{jitter:.2f}s' if jitter else 's'}) "
            f"after {worker.ended - worker.started if worker.ended else 0:.1f}s, progress {worker.last_progress}"
        )
        s.mark(f"killed {worker.label}")
    final = s.start_worker(label="final")
    _complete(s, final, publisher, baseline, fault_summary)


# --- (b) broker down -------------------------------------------------------------------------


def test_broker_down_for_30s(
    make_scenario: Callable[..., Scenario],
    baseline: Baseline,
    fault_settings: FaultSettings,
    fault_summary: Callable[[dict[str, Any]], None],
    tmp_path: Path,
) -> None:
    """A dedicated broker (the session broker is shared) is stopped mid-stream for 30 s and
    started again on the same ports and data dir. The worker must wait and carry on
    (docs/guarantees.md: "the worker and publishers retry and wait"); publishing resumes with
    the chunks that failed (a failed chunk is re-sent whole)."""
    from usageflow.broker.local import LocalKafka, free_port

    cache = Path(os.environ.get("USAGEFLOW_CACHE_DIR", Path.home() / ".cache" / "usageflow"))
    broker = LocalKafka(data_dir=tmp_path / "broker", cache_dir=cache, port=free_port(), controller_port=free_port())
    bootstrap = broker.start()
    s = make_scenario("broker-down", USAGEFLOW_KAFKA_BOOTSTRAP=bootstrap)
    try:
        s.mark("broker up")
        s.load_accounts()
        worker = s.start_worker(label="worker")
        # Paced so that the outage falls while chunks are still being published.
        publisher = s.publisher(pause_s=3.0)
        publisher.start()
        s.wait_consumed(worker, 1, timeout=180, publisher=publisher)
        wanted = max(1, fault_settings.chunks // 3)
        until = time.monotonic() + 180
        while publisher.chunks_done < wanted and publisher.is_alive() and time.monotonic() < until:
            time.sleep(0.2)
        if not worker.alive():
            s.fail(f"worker exited before the outage: {worker.tail(8)}")
        s.note(f"stopping the broker: {publisher.chunks_done} chunk(s) published, worker at {worker.last_progress}")
        s.mark("broker stopping")
        broker.stop()
        down_at = time.monotonic()
        s.mark("broker down")
        died_at: float | None = None
        while time.monotonic() - down_at < fault_settings.outage_s:
            if died_at is None and not worker.alive():
                died_at = time.monotonic() - down_at
            time.sleep(0.5)
        broker.start()
        s.mark("broker back")
        # The worker may need a while to notice the broker is back; give it the same time.
        settle = time.monotonic()
        while died_at is None and time.monotonic() - settle < 20:
            if not worker.alive():
                died_at = time.monotonic() - down_at
            time.sleep(0.5)
        if died_at is not None:
            s.fail(
                f"the worker exited {died_at:.0f}s into the broker outage (exit {worker.proc.returncode}) "
                f"instead of waiting for the broker: {worker.tail(10)}"
            )
            worker = s.start_worker(label="restarted-after-broker")
        if s.wait_processed([worker], publisher):
            _stop_final(s, worker)
        s.note(f"publish attempts per chunk: {[r.attempts for r in publisher.results]}")
        for result in publisher.results:
            for failure in result.failures:
                s.note(f"publish {result.path.name} failed: {failure[:200]}")
        s.stop_everything()
        s.verify(baseline.alerts, publisher)
        s.finish(fault_summary)
    finally:
        s.stop_everything()
        broker.stop()
    _assert_clean(s)


# --- (c) warehouse unavailable ---------------------------------------------------------------


def _chdb_path(scenario: Scenario) -> Path:
    url = scenario.cli.env["USAGEFLOW_WAREHOUSE"]
    assert url.startswith("chdb:"), url
    return Path(url[len("chdb:") :])


def _metric(worker: WorkerProcess, name: str) -> str | None:
    try:
        with urllib.request.urlopen(worker.base + "/metrics", timeout=3) as response:
            text = response.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return line.rsplit(" ", 1)[-1]
    return None


@NEEDS_CHDB
def test_warehouse_writes_fail_mid_stream(
    make_scenario: Callable[..., Scenario],
    baseline: Baseline,
    fault_settings: FaultSettings,
    fault_summary: Callable[[dict[str, Any]], None],
    tmp_path: Path,
) -> None:
    """The running worker's inserts fail for 33 s (30 s plus the margin that lets /health's 30 s
    threshold be observed): the `rated_events` part directory of its chDB path is made
    immutable (`chattr +i`: no new part can be created, reads still work; chDB raises a
    DatabaseError on insert, as a refusing server would). The worker must hold its batch,
    retry with back-off, report it (/status, /metrics, /health 503 after 30 s), and store
    everything once the directory is writable again."""
    if not chattr_works(tmp_path):
        pytest.skip("chattr +i is not available here (needs root with CAP_LINUX_IMMUTABLE)")
    hold = max(fault_settings.outage_s, 33.0)
    s = make_scenario("warehouse-writes-fail")
    s.load_accounts()
    publisher = s.publisher()
    publisher.start()
    worker = s.start_worker(label="worker")
    s.wait_consumed(worker, int(0.25 * len(s.exp.lines)), timeout=180, publisher=publisher)
    table_dir = chdb_table_dir(_chdb_path(s), "usageflow", "rated_events")
    assert table_dir.is_dir() and "store" in table_dir.parts, table_dir
    seen: dict[str, Any] = {"failing_since": None, "gauge": None, "health": set(), "died": None}
    with immutable(table_dir):
        s.mark("writes failing")
        frozen_at = time.monotonic()
        while time.monotonic() - frozen_at < hold:
            if not worker.alive():
                seen["died"] = time.monotonic() - frozen_at
                break
            got = worker.get("/status")
            if got and isinstance(got[1], dict) and got[1].get("warehouse_failing_since"):
                seen["failing_since"] = got[1]["warehouse_failing_since"]
                seen["gauge"] = _metric(worker, "usageflow_warehouse_unavailable") or seen["gauge"]
                health = worker.get("/health")
                if health:
                    seen["health"].add((health[0], time.time() - float(seen["failing_since"]) > 30.5))
            time.sleep(1.0)
    s.mark("writes restored")
    s.note(f"during the outage: {seen} (worker progress {worker.last_progress})")
    if seen["died"] is not None:
        s.fail(
            f"the worker exited {seen['died']:.0f}s after its writes started failing "
            f"(exit {worker.proc.returncode}): {worker.tail(10)}"
        )
        worker = s.start_worker(label="restarted-after-outage")
    else:
        if seen["failing_since"] is None:
            s.fail("/status never reported warehouse_failing_since while inserts failed")
        if seen["gauge"] not in ("1.0", "1"):
            s.fail(f"usageflow_warehouse_unavailable was {seen['gauge']!r} while inserts failed, not 1")
        if any(over for _, over in seen["health"]) and (503, True) not in seen["health"]:
            s.fail(f"/health did not answer 503 after 30 s of failing writes: {sorted(seen['health'])}")
    _complete(s, worker, publisher, baseline, fault_summary)


@NEEDS_CHDB
def test_warehouse_held_by_another_process_at_start(
    make_scenario: Callable[..., Scenario],
    baseline: Baseline,
    fault_settings: FaultSettings,
    fault_summary: Callable[[dict[str, Any]], None],
) -> None:
    """Another process holds the worker's chDB path for 30 s; the worker is started meanwhile
    and the stream published. docs/guarantees.md: "warehouse down (… chDB path locked …): the
    pipeline retries with back-off … the worker recovers by itself". So the worker
    must still be running when the holder exits and then process everything. (If it exits
    instead, the scenario records that, restarts it after the holder is gone to check the rest,
    and fails.)"""
    s = make_scenario("warehouse-held-at-start")
    path = _chdb_path(s)
    holder_log = (s.home / "holder.log").open("wb")
    holder = subprocess.Popen(
        [sys.executable, str(HOLD_SCRIPT), str(path), str(fault_settings.outage_s)],
        env=s.cli.env,
        cwd=s.cli.workdir,
        stdout=subprocess.PIPE,
        stderr=holder_log,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"held", "the holder could not open the chDB path"
        s.mark("warehouse held")
        s.load_accounts()
        publisher = s.publisher()
        publisher.start()
        worker = s.start_worker(label="worker")
        exited: float | None = None
        while holder.poll() is None:
            if exited is None and not worker.alive():
                exited = s.elapsed()
                s.mark("worker exited while held")
            time.sleep(0.5)
        s.mark("warehouse released")
        if exited is None and not worker.alive():
            exited = s.elapsed()
        if exited is not None:
            s.fail(
                f"the worker exited (code {worker.proc.returncode}) while another process held its chDB path, "
                f"instead of waiting for it: {worker.tail(3)}"
            )
            worker = s.start_worker(label="restarted-after-release")
        if s.wait_processed([worker], publisher):
            _stop_final(s, worker)
        s.stop_everything()
        s.verify(baseline.alerts, publisher)
        s.finish(fault_summary)
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait(timeout=30)
        holder_log.close()
    _assert_clean(s)


# --- (d) a second worker joins, then the first is killed ---------------------------------------


def test_second_worker_joins_then_first_is_killed(
    make_scenario: Callable[..., Scenario],
    cli_factory: Callable[..., Any],
    baseline: Baseline,
    fault_settings: FaultSettings,
    fault_summary: Callable[[dict[str, Any]], None],
) -> None:
    """Worker 1 runs; worker 2 is started mid-stream on the same warehouse; then worker 1 is
    SIGKILLed and worker 2 must finish the stream.

    With a ClickHouse server both are live members of the group: partitions move to worker 2
    when it joins (it seeds the accounts it receives from the warehouse) and all of them after
    the kill. With chDB (one process per path) worker 2 is a standby: it must stay up without
    consuming anything while worker 1 holds the path, then take the path and every partition
    over by itself once worker 1 is gone — never two writers on one path."""
    rng = random.Random(fault_settings.seed + 4)
    s = make_scenario("second-worker")
    second_cli = cli_factory("second", warehouse=s.cli.env["USAGEFLOW_WAREHOUSE"])
    s.load_accounts()
    publisher = s.publisher()
    publisher.start()
    first = s.start_worker(label="first")
    s.wait_consumed(first, int(rng.uniform(0.15, 0.3) * len(s.exp.lines)), timeout=180, publisher=publisher)
    second = s.start_worker(second_cli, label="second")
    s.mark("second started")
    if SERVER:
        if not s.wait_consumed(second, 1, timeout=120, publisher=publisher):
            s.fail(f"the second worker consumed nothing while the first was running: {second.last_progress}")
        time.sleep(rng.uniform(0.5, 3.0))
    else:
        _check_standby(s, first, second, watch_s=rng.uniform(8.0, 12.0))
    if first.alive():
        first.sigkill()
        s.mark("first killed")
    else:
        s.fail(f"the first worker exited by itself: {first.tail(8)}")
    if not SERVER and s.wait_consumed(second, 1, timeout=120, publisher=publisher):
        s.mark("second consuming")
    _complete(s, second, publisher, baseline, fault_summary)


def _check_standby(s: Scenario, first: WorkerProcess, second: WorkerProcess, watch_s: float) -> None:
    """While the first worker holds the chDB path the second must neither exit nor consume (it
    has not joined the group, so the first keeps every partition)."""
    end = time.monotonic() + watch_s
    while time.monotonic() < end:
        if not second.alive():
            s.fail(f"the standby worker exited (code {second.proc.returncode}): {second.tail(6)}")
            return
        if second.progress() is not None:
            s.fail(f"the standby worker is serving while the first holds the path: {second.last_progress}")
            return
        time.sleep(0.5)
    consumed = first.progress()
    s.note(f"standby for {watch_s:.1f}s while the first worker went on ({consumed})")
    if "standing by" not in second.tail(40):
        s.fail(f"the standby worker did not say it is standing by: {second.tail(6)}")
