"""Each part of a run: start it, measure it, put its figures into the result."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from benchmarks import BenchError
from benchmarks.config import BenchEnv, alert_account_count
from benchmarks.stats import Span, rounded, summarize


def raw(env: BenchEnv) -> None:
    from benchmarks.raw import raw_consume

    assert env.kafka is not None and env.topics is not None
    env.say("raw consume (confluent-kafka + orjson)")
    span = raw_consume(env.kafka, env.topics.events, env.published, env.config.timeout_s)
    env.result["raw_consume_eps"] = _eps(span)
    env.result["raw_seconds"] = round(span.seconds, 3)


def produce_records(lines: list[bytes]) -> list[tuple[bytes, bytes]]:
    """The (key, line) records the bare producer sends: keys taken before any clock starts."""
    import orjson

    return [(str(orjson.loads(line)["account_id"]).encode(), line) for line in lines]


def warm_broker(env: BenchEnv, records: list[tuple[bytes, bytes]]) -> None:
    """The bare producer once, untimed, to a topic of its own: a broker just started compiles
    its hot paths during the first large load, and without this that load is the publisher's
    (the bare producer, timed after it, would meet a warm broker)."""
    from benchmarks.raw import raw_produce

    assert env.kafka is not None and env.topics is not None
    env.say("warming the broker (a bare producer, untimed)")
    seconds = raw_produce(env.kafka, f"{env.topics.topic_prefix}warm-up", records, env.topics.partitions)
    env.result["warmup_produce_eps"] = round(len(records) / seconds)


def raw_produce(env: BenchEnv, records: list[tuple[bytes, bytes]]) -> None:
    """The bare producer on the lines the publisher just sent."""
    from benchmarks.raw import raw_produce

    assert env.kafka is not None and env.topics is not None
    env.say("raw produce (a bare confluent-kafka Producer, the same lines)")
    topic = f"{env.topics.topic_prefix}raw-produce"
    seconds = raw_produce(env.kafka, topic, records, env.topics.partitions)
    env.result["raw_produce_eps"] = round(len(records) / seconds)
    env.result["raw_produce_seconds"] = round(seconds, 3)


def _eps(span: Span) -> float | None:
    rate = span.rate()
    return None if rate is None else round(rate)


def worker_env(env: BenchEnv, port: int) -> dict[str, str]:
    assert env.kafka is not None and env.topics is not None
    values = {
        **os.environ,
        "USAGEFLOW_KAFKA_BOOTSTRAP": env.kafka.bootstrap,
        "USAGEFLOW_TOPIC_PREFIX": env.topics.topic_prefix,
        "USAGEFLOW_DATA_DIR": str(env.workdir / "worker" / "data"),
        "USAGEFLOW_WAREHOUSE": f"chdb:{env.workdir / 'worker' / 'warehouse'}",
        "USAGEFLOW_STREAM_HTTP_HOST": "127.0.0.1",
        "USAGEFLOW_STREAM_HTTP_PORT": str(port),
        "USAGEFLOW_LOG_FORMAT": "json",  # worker.log (kept with --keep): one line per batch, with its step times
    }
    if env.kafka_version not in (None, "external"):  # the private broker is PLAINTEXT, whatever the env says
        values["USAGEFLOW_KAFKA_SECURITY_PROTOCOL"] = "PLAINTEXT"
    if env.config.price_book is not None:
        values["USAGEFLOW_PRICE_BOOK"] = str(env.config.price_book)
    return values


def worker(env: BenchEnv) -> None:
    from benchmarks.worker import WorkerProcess, pipeline_span
    from usageflow.broker.local import free_port

    config = env.config
    port = free_port()
    worker = WorkerProcess(worker_env(env, port), env.workdir / "worker", port)
    spy = None
    try:
        env.say("starting the worker")
        worker.start()
        worker.wait_ready(config.timeout_s)
        if "pipeline" in config.parts:
            spy = _spy(env, worker, "worker.pyspy")
        if "pipeline" in config.parts:
            env.say(f"pipeline: the worker consumes {env.published:,} events")
            span = pipeline_span(worker, env.published, config.timeout_s)
            env.result["pipeline_eps"] = _eps(span)
            env.result["pipeline_seconds"] = round(span.seconds, 3)
            flushes = int(worker.last.get("flushes", 0))
            env.result["pipeline_avg_batch"] = round(env.published / flushes) if flushes else None
            env.result["pipeline_alerts"] = worker.last.get("alerts")
            env.result["pipeline_windows"] = worker.last.get("windows")
            published = worker.windows_at.get(span.last_count, 0) - worker.windows_at.get(span.first_count, 0)
            env.result["pipeline_windows_per_s"] = rounded(published / span.seconds) if span.seconds > 0 else None
        elif env.published:
            worker.wait_consumed(env.published, config.timeout_s)
        if spy is not None:
            env.result["worker_py_spy"] = spy.finish()
            spy = None
        if "alerts" in config.parts:
            _alerts(env, worker)
        worker.sample_rss()
        env.result["worker_peak_rss_mb"] = rounded(worker.peak_rss)
    finally:
        if spy is not None:
            spy.abort()
        env.say("stopping the worker")
        worker.stop()


def _spy(env: BenchEnv, worker: Any, name: str) -> Any:
    """py-spy on the worker while a phase runs, with the profile part only (it costs CPU)."""
    if "profile" not in env.config.parts or worker.proc is None:
        return None
    from benchmarks.spy import PySpy

    return PySpy.attach(worker.proc.pid, env.workdir / name)


def _alerts(env: BenchEnv, worker: Any) -> None:
    from benchmarks.alerts import measure_alert_latency
    from benchmarks.workload import alert_accounts

    assert env.kafka is not None and env.topics is not None
    config = env.config
    load = config.alert_load_eps
    env.say(f"alert latency: {config.alert_seconds:.0f}s at {load:.0f} events/s")
    before = int((worker.progress() or {}).get("consumed", 0))

    def caught_up(sent: int) -> bool:  # at most 1 s of the load behind (`consumed` moves once a batch is done)
        consumed = int((worker.progress() or {}).get("consumed", 0)) - before
        return consumed > 0 and consumed >= sent - load

    crossing = [a.account_id for a in alert_accounts(alert_account_count(config), env.topics.topic_prefix.strip(".-"))]
    spy = _spy(env, worker, "worker-alerts.pyspy")
    try:
        run = measure_alert_latency(
            env.kafka, env.topics, crossing, config.accounts, load, config.alert_seconds, caught_up=caught_up
        )
        if spy is not None:
            env.result["worker_py_spy_alerts"] = spy.finish()
            spy = None
    finally:
        if spy is not None:
            spy.abort()
    env.result["alert_samples"] = len(run.latencies_ms)
    env.result["alert_latency_ms_series"] = [round(x) for x in run.latencies_ms]  # in publish order
    env.result["alerts_missing"] = run.missing
    env.result["alert_offered_eps"] = round(run.offered_eps)
    env.result["alert_catch_up_s"] = None if run.catch_up_s is None else round(run.catch_up_s, 1)
    if run.latencies_ms:
        s = summarize(run.latencies_ms)
        env.result["alert_latency_ms_p50"] = rounded(s.p50)
        env.result["alert_latency_ms_p99"] = rounded(s.p99)


def peer(env: BenchEnv) -> None:
    from benchmarks.child import run_child
    from benchmarks.stats import span_from_points

    assert env.kafka is not None and env.topics is not None
    env.say("peer: the same job on Quix Streams")
    home = env.workdir / "peer"
    args = [
        "--bootstrap",
        env.kafka.bootstrap,
        "--topic",
        env.topics.events,
        "--accounts-topic",
        env.topics.accounts,
        "--warehouse",
        str(home / "warehouse"),
        "--state-dir",
        str(home / "state"),
        "--expected",
        str(env.published),
    ]
    if env.config.price_book is not None:
        args += ["--price-book", str(env.config.price_book)]
    out = run_child("benchmarks.peer", args, home, env.config.timeout_s, python=peer_python())
    span = span_from_points([(t, c) for t, c in out["points"]])
    if span is None:
        raise BenchError("peer wrote everything in one batch: use more --events")
    if span.last_count < env.published:
        raise BenchError(f"peer stored {span.last_count} of {env.published} events")
    env.result["peer_eps"] = _eps(span)
    env.result["peer_seconds"] = round(span.seconds, 3)
    env.result["peer_windows"] = out["windows_emitted"]
    env.result["peer_peak_rss_mb"] = rounded(out.get("peak_rss_mb"))


def queries(env: BenchEnv) -> None:
    from benchmarks.child import run_child

    config = env.config
    env.say(f"queries: {config.query_rows:,} rated rows, {config.accounts} accounts, {config.query_runs} runs")
    home = env.workdir / "queries"
    args = [
        "--warehouse",
        str(home / "warehouse"),
        "--rows",
        str(config.query_rows),
        "--accounts",
        str(config.accounts),
        "--runs",
        str(config.query_runs),
    ]
    if config.price_book is not None:
        args += ["--price-book", str(config.price_book)]
    out = run_child("benchmarks.queries", args, home, config.timeout_s)
    invoice, report_s, all_s = (
        summarize(out["invoice_ms"]),
        summarize(out["report_ms"]),
        summarize(out["invoices_all_ms"]),
    )
    r = env.result
    r["query_rows"] = out["rows"]
    r["query_load_rows_per_s"] = round(out["rows"] / out["load_s"]) if out["load_s"] else None
    r["invoice_ms_p50"], r["invoice_ms_p99"] = rounded(invoice.p50), rounded(invoice.p99)
    r["report_ms_p50"], r["report_ms_p99"] = rounded(report_s.p50), rounded(report_s.p99)
    r["invoices_all_ms_p50"] = rounded(all_s.p50)
    merged = summarize(out["invoice_merged_ms"])
    r["invoice_merged_ms_p50"], r["invoice_merged_ms_p99"] = rounded(merged.p50), rounded(merged.p99)
    r["query_merge_s"] = round(out["merge_s"], 1)


def profile(env: BenchEnv) -> None:
    from benchmarks.child import run_child

    env.say("profile: the worker's batch path under cProfile (20,000 events)")
    home = env.workdir / "profile"
    assert env.kafka is not None
    args = ["--warehouse", str(home / "warehouse"), "--accounts", str(env.config.accounts)]
    args += ["--bootstrap", env.kafka.bootstrap, "--topic-prefix", f"profile-{os.getpid()}."]
    if env.config.price_book is not None:
        args += ["--price-book", str(env.config.price_book)]
    env.result["profile"] = run_child("benchmarks.hotpath", args, home, env.config.timeout_s)


def peer_python() -> str:
    """Quix Streams pins older confluent-kafka/pydantic than usageflow, so the peer runs in its
    own environment: `USAGEFLOW_BENCH_PEER_PYTHON`, else `.venv-bench` (made by `make bench`)."""
    configured = os.environ.get("USAGEFLOW_BENCH_PEER_PYTHON")
    if configured:  # a relative path is taken from here: the peer runs in another directory
        return str(Path(configured).absolute()) if os.sep in configured else configured
    local = Path(__file__).resolve().parents[1] / ".venv-bench" / "bin" / "python"
    return str(local) if local.exists() else sys.executable
