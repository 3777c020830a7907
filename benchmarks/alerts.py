"""Alert latency under a steady load: from publishing a crossing event to its alert being
readable on the alerts topic.

A background thread publishes ordinary events at a fixed rate; every `interval_s` the main
thread publishes one request that crosses a fresh account's plan levels (starter plan, 460,000
tokens: daily 80 % and monthly 90 %), and a consumer thread on the alerts topic notes when the
first alert of each such account arrives. Event time continues the generated stream, so no
event is late. Clocks: one `perf_counter` in one process for both ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from confluent_kafka import Consumer, TopicPartition

from benchmarks import BenchError
from benchmarks.workload import LiveTraffic, crossing_event, live_time, timeline_end
from usageflow.bus.producer import Publisher
from usageflow.config import KafkaSettings, TopicSettings

TICK_S = 0.01


@dataclass
class AlertRun:
    latencies_ms: list[float] = field(default_factory=list)
    missing: int = 0
    offered_eps: float = 0.0
    crossings: int = 0
    catch_up_s: float | None = None  # how long the worker took to catch up with the load (None: it did not)


class _Background(threading.Thread):
    """Ordinary events at `rate` per second until stopped."""

    def __init__(
        self, kafka: KafkaSettings, topics: TopicSettings, accounts: int, rate: float, clock: Callable[[], datetime]
    ) -> None:
        super().__init__(name="bench-load", daemon=True)
        self.publisher = Publisher(kafka, topics)
        self.traffic = LiveTraffic(accounts)
        self.rate = rate
        self.clock = clock
        self.sent = 0
        self.seconds = 0.0
        self.stop_event = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        started = time.perf_counter()
        try:
            while not self.stop_event.is_set():
                due = int((time.perf_counter() - started) * self.rate) - self.sent
                for _ in range(max(due, 0)):
                    key, value = self.traffic.next_line(self.clock())
                    self.publisher.send(self.publisher.topics.events, key, value)
                    self.sent += 1
                time.sleep(TICK_S)
            self.publisher.flush(30)
        except BaseException as exc:  # reported by the caller
            self.error = exc
        self.seconds = time.perf_counter() - started


class _AlertWatcher(threading.Thread):
    """First arrival time of an alert per account, from the end of the alerts topic."""

    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        super().__init__(name="bench-alerts", daemon=True)
        self.consumer = Consumer(
            {
                **kafka.confluent_config(),
                "group.id": "usageflow-bench-alerts",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 10,
            }
        )
        meta = self.consumer.list_topics(topic, timeout=10)
        info = meta.topics.get(topic)
        if info is None or info.error is not None:
            raise BenchError(f"topic {topic} does not exist")
        assignment = []
        for p in info.partitions:
            _low, high = self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            assignment.append(TopicPartition(topic, p, high))
        self.consumer.assign(assignment)
        self.arrivals: dict[str, float] = {}
        self.stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                msg = self.consumer.poll(0.05)
                if msg is None or msg.error() is not None:
                    continue
                arrived = time.perf_counter()
                try:
                    account = orjson.loads(msg.value() or b"{}").get("account_id")
                except orjson.JSONDecodeError:
                    continue
                if isinstance(account, str) and account not in self.arrivals:
                    self.arrivals[account] = arrived
        finally:
            self.consumer.close()


def measure_alert_latency(
    kafka: KafkaSettings,
    topics: TopicSettings,
    crossing_accounts: list[str],
    load_accounts: int,
    load_eps: float,
    duration_s: float,
    interval_s: float = 0.2,
    caught_up: Callable[[int], bool] | None = None,
    grace_s: float = 30.0,
    catch_up_timeout_s: float = 60.0,
) -> AlertRun:
    """The figure is the latency in steady state: once the background load runs, crossings
    start when `caught_up(sent)` says the worker has consumed nearly all `sent` background
    events (polled, at most `catch_up_timeout_s`; the time taken is reported on its own). A
    freshly started worker first restores its state and works off what arrived meanwhile."""
    base = timeline_end() + timedelta(hours=1)
    t0 = time.perf_counter()

    def clock() -> datetime:
        return live_time(base, time.perf_counter() - t0)

    watcher = _AlertWatcher(kafka, topics.alerts)
    watcher.start()
    background = _Background(kafka, topics, load_accounts, load_eps, clock)
    background.start()
    crossing = Publisher(kafka, topics)
    published: dict[str, float] = {}
    catch_up_s: float | None = None
    try:
        if caught_up is not None:
            started = time.perf_counter()
            while time.perf_counter() - started < catch_up_timeout_s:
                if background.error is not None:
                    raise BenchError(f"background load failed: {background.error}")
                if caught_up(background.sent):
                    catch_up_s = time.perf_counter() - started
                    break
                time.sleep(0.1)
        count = min(len(crossing_accounts), int(duration_s / interval_s))
        next_at = time.perf_counter()
        for serial, account in enumerate(crossing_accounts[:count]):
            next_at += interval_s
            value = crossing_event(account, live_time(base, time.perf_counter() - t0), serial)
            published[account] = time.perf_counter()
            crossing.send(topics.events, account.encode(), value)
            crossing.flush(10)  # send now rather than after linger.ms
            if background.error is not None:
                raise BenchError(f"background load failed: {background.error}")
            time.sleep(max(0.0, next_at - time.perf_counter()))
        deadline = time.perf_counter() + grace_s
        while time.perf_counter() < deadline and not all(a in watcher.arrivals for a in published):
            time.sleep(0.05)
    finally:
        background.stop_event.set()
        background.join(60)
        watcher.stop_event.set()
        watcher.join(10)
    run = AlertRun(crossings=len(published), catch_up_s=catch_up_s)
    run.offered_eps = background.sent / background.seconds if background.seconds else 0.0
    for account, sent_at in published.items():
        arrived = watcher.arrivals.get(account)
        if arrived is None:
            run.missing += 1
        else:
            run.latencies_ms.append((arrived - sent_at) * 1000)
    return run
