"""Operating the worker: health, metrics, status, queries served while it owns the warehouse,
and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import signal
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.cli import UsageflowCli
from tests.integration.test_alerts_stream import wait_for
from usageflow.demo.generator import StreamShape, generate_lines

pytestmark = pytest.mark.integration


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def test_running_worker_reports_and_serves_queries(cli: UsageflowCli, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    lines = list(generate_lines(500, StreamShape(duplicate_rate=0.1, bad_rate=0.05), seed=3))
    events.write_bytes(b"\n".join(lines) + b"\n")
    distinct = len({json.loads(x)["event_id"] for x in lines if x.startswith(b'{"schema_version":1,"event_id":"evt')})
    base = f"http://127.0.0.1:{cli.env['USAGEFLOW_STREAM_HTTP_PORT']}"

    worker = cli.popen("worker")
    try:
        published = cli.json("publish", str(events), "--format", "json")["published"]
        wait_for(f"{base}/progress", lambda p: p.get("consumed", 0) >= published)
        assert json.loads(get(f"{base}/health"))["status"] == "ok"

        metrics = get(f"{base}/metrics").decode()
        assert f"usageflow_events_stored_total {float(distinct)}" in metrics
        assert 'usageflow_dead_letters_total{reason="unknown_model"}' in metrics

        status = wait_for(f"{base}/status", lambda s: s.get("lag") and sum(s["lag"].values()) == 0, timeout=30)
        assert status["stored"] == distinct
        assert cli.json("status", "--format", "json")["stored"] == distinct

        # The worker owns the embedded warehouse; the CLI asks it for the invoices.
        invoices = cli.json("invoice", "--month", "2026-11", "--format", "json")
        assert sum(i["tokens"] for i in invoices) > 0
        usage = json.loads(get(f"{base}/usage/edu-001?window=day"))
        assert usage["account_id"] == "edu-001" and usage["windows"]
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=60)
    assert code == 0
    # Stopped: the CLI opens the warehouse itself and sees the same numbers.
    assert cli.json("invoice", "--month", "2026-11", "--format", "json") == invoices
