"""Static membership of the events consumer: a consumer restarted after a SIGKILL, under the
same `group.instance.id`, gets its partitions back at once instead of waiting out the dead
member's session (10 s), on the real broker."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid

import pytest
from confluent_kafka import Consumer

from usageflow.bus.admin import ensure_topics
from usageflow.config import KafkaSettings, TopicSettings
from usageflow.streams.source import consumer_config

pytestmark = pytest.mark.integration
SESSION_TIMEOUT_S = 10.0  # streams.source.consumer_config

MEMBER = """
import sys, time
from confluent_kafka import Consumer
from usageflow.config import KafkaSettings
from usageflow.streams.source import consumer_config
bootstrap, topic, group, instance = sys.argv[1:5]
consumer = Consumer(consumer_config(KafkaSettings(bootstrap=bootstrap), group, instance))
consumer.subscribe([topic], on_assign=lambda c, p: print("assigned", flush=True))
while True:
    consumer.poll(0.2)
"""


def seconds_to_assignment(kafka: KafkaSettings, topic: str, group: str, instance: str, timeout: float = 40) -> float:
    assigned: list[float] = []
    consumer = Consumer(consumer_config(kafka, group, instance))
    started = time.monotonic()
    consumer.subscribe([topic], on_assign=lambda _c, parts: assigned.append(time.monotonic()) if parts else None)
    try:
        while not assigned and time.monotonic() - started < timeout:
            consumer.poll(0.2)
    finally:
        consumer.close()
    assert assigned, f"no assignment within {timeout}s"
    return assigned[0] - started


def killed_member(kafka: KafkaSettings, topic: str, group: str, instance: str) -> None:
    """A member that got its partitions, then was SIGKILLed (no goodbye to the group)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", MEMBER, kafka.bootstrap, topic, group, instance], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "assigned"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.mark.parametrize(("same_id", "rejoins_at_once"), [(True, True), (False, False)])
def test_a_killed_member_restarted_under_its_id_takes_its_partitions_back_at_once(
    kafka_bootstrap: str, topic_prefix: str, same_id: bool, rejoins_at_once: bool
) -> None:
    kafka, topics = KafkaSettings(bootstrap=kafka_bootstrap), TopicSettings(topic_prefix=topic_prefix)
    ensure_topics(kafka, topics)
    group = f"{topic_prefix}restart-{uuid.uuid4().hex[:6]}"
    killed_member(kafka, topics.events, group, "worker-1")
    took = seconds_to_assignment(kafka, topics.events, group, "worker-1" if same_id else "worker-2")
    if rejoins_at_once:
        assert took < SESSION_TIMEOUT_S / 2, took
    else:  # the control: a new member waits for the dead one's session to expire
        assert took >= SESSION_TIMEOUT_S * 0.8, took
