"""Orchestration: a private broker and topics, one workload, each part in turn, always cleaned up.

Order: publish once → raw consume → the real worker (throughput, then alert latency under load)
→ the Quix Streams peer → billing queries → the hot-path profile. Parts that compete for the CPU
never overlap (2 cores: the broker, the worker and the load generator already share them).
"""

import contextlib
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import BenchError, phases
from benchmarks.config import STREAM_PARTS, BenchConfig, BenchEnv, Say, alert_account_count, empty_result
from benchmarks.stats import ratio, rounded
from usageflow.config import KafkaSettings, StreamSettings, TopicSettings

__all__ = ["BenchConfig", "run_bench"]


def run_bench(config: BenchConfig, say: Say) -> dict[str, Any]:
    config.validate()
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="usageflow-bench-"))
    env = BenchEnv(config, workdir, say, empty_result(config))
    env.result["started_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    stream = StreamSettings()
    env.result["worker_settings"] = {
        "flush_max_rows": stream.flush_max_rows,
        "flush_interval_s": stream.flush_interval_s,
    }
    broker = None
    try:
        if STREAM_PARTS & set(config.parts) or {"alerts", "profile"} & set(config.parts):  # profile: the outbox
            broker = _start_kafka(env)
            _publish(env)
        if "raw" in config.parts:
            phases.raw(env)
        if "pipeline" in config.parts or "alerts" in config.parts:
            phases.worker(env)
        if "peer" in config.parts:
            phases.peer(env)
        if "queries" in config.parts:
            phases.queries(env)
        if "profile" in config.parts:
            phases.profile(env)
    finally:
        if broker is not None:
            say("stopping Kafka")
            try:
                with contextlib.suppress(Exception):  # best effort: never mask the real error
                    broker.stop()
            except KeyboardInterrupt:  # a second Ctrl-C: stop it at once
                broker.stop(timeout=1.0)
        if config.keep is not None:
            config.keep.mkdir(parents=True, exist_ok=True)
            shutil.copytree(workdir, config.keep / workdir.name, dirs_exist_ok=True, ignore=_skip_bulk)
        shutil.rmtree(workdir, ignore_errors=True)
    r = env.result
    r["ratio_vs_raw"] = rounded(ratio(r["pipeline_eps"], r["raw_consume_eps"]), 4)
    r["ratio_vs_peer"] = rounded(ratio(r["pipeline_eps"], r["peer_eps"]), 3)
    r["ratio_publish_vs_raw"] = rounded(ratio(r["publish_eps"], r["raw_produce_eps"]), 4)
    from benchmarks.machine import machine_info

    r["machine"] = machine_info(env.kafka_version)
    r["elapsed_s"] = round(time.monotonic() - started, 1)
    return r


def _skip_bulk(_dir: str, names: list[str]) -> set[str]:
    """Keep logs, not the broker's data or chDB stores."""
    return {n for n in names if n in ("kraft", "store", "data", "metadata", "state")}


def _start_kafka(env: BenchEnv) -> Any:
    config = env.config
    if config.bootstrap:
        env.kafka = config.kafka or KafkaSettings(bootstrap=config.bootstrap)
        env.kafka_version = "external"
        broker = None
    else:
        from usageflow.broker.local import KAFKA_VERSION, LocalKafka, free_port

        env.say("starting a private Kafka broker")
        broker = LocalKafka(env.workdir / "kafka-data", config.cache_dir, port=free_port(), controller_port=free_port())
        bootstrap = broker.start()
        env.kafka = KafkaSettings(bootstrap=bootstrap, security_protocol="PLAINTEXT")
        env.kafka_version = KAFKA_VERSION
    env.topics = TopicSettings(topic_prefix=f"bench-{uuid.uuid4().hex[:8]}.")
    from usageflow.bus.admin import ensure_topics

    try:
        ensure_topics(env.kafka, env.topics)
    except BaseException:
        if broker is not None:
            broker.stop()
        raise
    return broker


def _publish(env: BenchEnv) -> None:
    from benchmarks.workload import account_bytes, alert_accounts, bench_accounts, event_lines
    from usageflow.bus.producer import Publisher

    assert env.kafka is not None and env.topics is not None
    config = env.config
    publisher = Publisher(env.kafka, env.topics)
    accounts = bench_accounts(config.accounts)
    if "alerts" in config.parts:
        accounts += alert_accounts(alert_account_count(config), env.topics.topic_prefix.strip(".-"))
    for account in accounts:
        publisher.publish_account(account.account_id, account_bytes(account))
    publisher.flush()
    if not STREAM_PARTS & set(config.parts):
        return
    lines = list(event_lines(config.events, config.accounts))  # generated before the clock starts
    records = phases.produce_records(lines) if "raw" in config.parts else []
    if records:
        phases.warm_broker(env, records)
    env.say(f"publishing {config.events:,} events")
    started = time.perf_counter()
    report = publisher.publish_lines(lines, "bench")
    env.published = report.published
    env.result["publish_eps"] = round(report.published / (time.perf_counter() - started))
    if report.rejected:
        raise BenchError(f"the generator produced {report.rejected} invalid events")
    if records:
        phases.raw_produce(env, records)
