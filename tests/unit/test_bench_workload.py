"""The benchmark's background load: its spliced lines are the generator's events, ids unique."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from benchmarks.workload import LiveTraffic, bench_shape
from usageflow.demo.generator import generate_events


def test_live_lines_are_the_generated_events_with_a_fresh_id_and_time() -> None:
    traffic = LiveTraffic(50, seed=3, pool=300)
    reference = generate_events(300, bench_shape(50), 3)
    start = datetime(2026, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    for serial in range(1, 301):
        ts = start + timedelta(milliseconds=serial)
        key, line = traffic.next_line(ts)
        expected = next(reference)
        expected["event_id"] = f"live-{serial:09d}"
        expected["ts"] = ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        assert orjson.loads(line) == expected
        assert key == expected["account_id"].encode()


def test_the_pool_repeats_but_ids_stay_unique() -> None:
    traffic = LiveTraffic(20, seed=5, pool=7)
    ts = datetime(2026, 11, 30, tzinfo=UTC)
    lines = [orjson.loads(traffic.next_line(ts)[1]) for _ in range(30)]
    assert len({line["event_id"] for line in lines}) == 30
    assert lines[0]["account_id"] == lines[7]["account_id"] and lines[0]["input_tokens"] == lines[7]["input_tokens"]
