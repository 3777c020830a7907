"""What the figures were measured on: cores, memory, load, and the versions that matter."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def peer_quixstreams_version() -> str | None:
    """Quix Streams lives in the peer's own environment (see phases.peer_python)."""
    from benchmarks.phases import peer_python

    code = "from importlib import metadata; print(metadata.version('quixstreams'))"
    try:
        done = subprocess.run([peer_python(), "-c", code], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def machine_info(kafka_version: str | None) -> dict[str, Any]:
    """`kafka_version`: the private broker's version, "external" or None (no Kafka part ran)."""
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gib": _memory_gib(),
        "loadavg_at_start": load_average(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "kafka": kafka_version,
        "chdb": _version("chdb-core") or _version("chdb"),
        "faust": _version("faust-streaming"),
        "aiokafka": _version("aiokafka"),
        "confluent_kafka": _version("confluent-kafka"),
        "quixstreams": _version("quixstreams") or peer_quixstreams_version(),
        "clickhouse_connect": _version("clickhouse-connect"),
    }
