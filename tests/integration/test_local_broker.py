"""The local broker manager against a real Kafka broker (jars cached in ~/.cache/usageflow)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from usageflow.broker.local import KAFKA_VERSION, LocalKafka, free_port
from usageflow.errors import BrokerError

pytestmark = pytest.mark.integration

CACHE_DIR = Path.home() / ".cache" / "usageflow"


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _produce_one(bootstrap: str, topic: str, value: bytes) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    producer.produce(topic, key=b"k", value=value)
    assert producer.flush(30) == 0


def _consume_values(bootstrap: str, topic: str, want: int) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    try:
        for _ in range(60):
            msg = consumer.poll(0.5)
            if msg is None:
                if len(values) >= want:
                    break
                continue
            assert msg.error() is None, msg.error()
            values.append(msg.value())
            consumer.commit(message=msg, asynchronous=False)
    finally:
        consumer.close()
    return values


def test_start_produce_consume_stop_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    kafka = LocalKafka(data_dir, CACHE_DIR, port=free_port(), controller_port=free_port())
    classpath_file = CACHE_DIR / f"kafka-{KAFKA_VERSION}" / "classpath.txt"
    try:
        bootstrap = kafka.start()
        assert bootstrap == kafka.bootstrap
        status = kafka.status()
        assert status.running and status.pid is not None
        assert status.version == KAFKA_VERSION and status.bootstrap == bootstrap
        first_pid = status.pid
        classpath_mtime = classpath_file.stat().st_mtime_ns

        # Idempotent start, and another handle on the same data dir sees the broker.
        assert kafka.start() == bootstrap
        assert kafka.status().pid == first_pid
        other = LocalKafka(data_dir, CACHE_DIR)  # default port: the pid file tells the real one
        assert other.status().running and other.status().bootstrap == bootstrap
        # ... and so does another process.
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from pathlib import Path;"
                "from usageflow.broker.local import LocalKafka;"
                "s = LocalKafka(Path(sys.argv[1]), Path(sys.argv[2])).status();"
                "print(s.running, s.pid, s.bootstrap)",
                str(data_dir),
                str(CACHE_DIR),
            ],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )
        assert out.stdout.split() == ["True", str(first_pid), bootstrap]

        topic = f"probe-{uuid.uuid4().hex[:8]}"  # auto-created on first produce
        _produce_one(bootstrap, topic, b"before-restart")
        assert _consume_values(bootstrap, topic, 1) == [b"before-restart"]

        assert kafka.stop() is True
        assert not _pid_exists(first_pid)
        assert not kafka.status().running
        assert not (data_dir / "kafka" / "broker.pid").exists()
        assert kafka.stop() is False

        # Second start: same data (message survives), cached classpath (Maven not run again).
        kafka.start()
        second_pid = kafka.status().pid
        assert second_pid is not None and second_pid != first_pid
        assert classpath_file.stat().st_mtime_ns == classpath_mtime
        _produce_one(bootstrap, topic, b"after-restart")
        assert _consume_values(bootstrap, topic, 2) == [b"before-restart", b"after-restart"]
        assert kafka.stop() is True
        assert not _pid_exists(second_pid)
    finally:
        kafka.stop()


def test_port_taken_by_another_program(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        kafka = LocalKafka(tmp_path / "data", CACHE_DIR, port=port)
        with pytest.raises(BrokerError, match=f"port {port} .* in use by another program"):
            kafka.start(timeout=30)
    assert not kafka.status().running


def test_stale_pid_file_is_cleaned_up(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    pid_file = tmp_path / "data" / "kafka" / "broker.pid"
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text(json.dumps({"pid": gone.pid, "port": 1, "controller_port": 2, "version": KAFKA_VERSION}))
    kafka = LocalKafka(tmp_path / "data", CACHE_DIR)
    assert kafka.status().running is False
    assert not pid_file.exists()
    assert kafka.stop() is False
