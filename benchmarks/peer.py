"""The same job on Quix Streams (PyPI `quixstreams`, installed in `.venv-bench` by `make bench`), as a peer figure.

Consume the events topic, decode and validate (`decode_event`), rate (`rate_event`, Decimal),
a 1-hour event-time tumbling window per (account, api key, model), and write the rated rows to
a chDB warehouse (same schema, same `rated_events_table` + `insert_arrow`) in batches that
flush on count or time like the worker's sink. It runs in its own process (one chDB path per
process) and prints one JSON object.

What it does *not* do, unlike the worker: dedupe against the warehouse, dead letters, alert
rules, 1m/1d windows. Changelog topics are off (the worker keeps no state in Kafka either).
The window state is per message key (the account, as published), holding one entry per
(api key, model): the same grouping without a repartition topic.

    python -m benchmarks.peer --bootstrap H:P --topic T --accounts-topic A \
        --warehouse DIR --state-dir DIR --expected N
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks.worker import peak_rss_mb

WINDOW_MS = 3_600_000
COST_UNITS = Decimal("1e12")  # list cost in 1e-12 CNY: an exact int the JSON state store can hold


def window_reducer(aggregate: dict[str, list[int]], rated: Any) -> dict[str, list[int]]:
    e = rated.event
    slot = f"{e.api_key_id}|{e.model}"
    counters = aggregate.get(slot)
    cost = int(rated.list_cost * COST_UNITS)
    if counters is None:
        aggregate[slot] = [1, e.input_tokens, e.output_tokens, cost]
    else:
        counters[0] += 1
        counters[1] += e.input_tokens
        counters[2] += e.output_tokens
        counters[3] += cost
    return aggregate


def window_initializer(rated: Any) -> dict[str, list[int]]:
    return window_reducer({}, rated)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from quixstreams import Application
    from quixstreams.sinks.base import BatchingSink, SinkBatch

    from usageflow.billing.tables import load_price_book as load_price_tables
    from usageflow.bus.accounts import AccountDirectory
    from usageflow.config import KafkaSettings
    from usageflow.errors import ValidationFailure
    from usageflow.pricing.price_book import load_price_book
    from usageflow.pricing.rating import RatedEvent, rate_event
    from usageflow.schemas.decode import decode_event
    from usageflow.streams.rated_rows import rated_events_table
    from usageflow.warehouse import open_warehouse
    from usageflow.warehouse.migrate import migrate

    book = load_price_book(Path(args.price_book) if args.price_book else None)
    warehouse = open_warehouse(f"chdb:{args.warehouse}")
    migrate(warehouse)
    load_price_tables(warehouse, book)
    kafka = KafkaSettings(bootstrap=args.bootstrap)
    accounts = AccountDirectory(kafka, args.accounts_topic)
    accounts.start()

    app = Application(
        broker_address=args.bootstrap,
        consumer_group=f"usageflow-bench-peer-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        commit_interval=args.commit_interval,
        commit_every=args.commit_every,
        state_dir=args.state_dir,
        use_changelog_topics=False,
        loglevel="WARNING",
    )
    counters = {"rejected": 0, "windows": 0}
    points: list[tuple[float, int]] = []

    class ChdbSink(BatchingSink):
        written = 0

        def write(self, batch: SinkBatch) -> None:
            rows = [item.value for item in batch]
            warehouse.insert_arrow("rated_events", rated_events_table(rows))
            self.written += len(rows)
            points.append((time.perf_counter(), self.written))
            if self.written >= args.expected:
                app.stop()

    def rate(raw: bytes) -> RatedEvent | None:
        try:
            event = decode_event(raw)
            return rate_event(event, accounts.get(event.account_id), book)
        except ValidationFailure:
            counters["rejected"] += 1
            return None

    def count_window(_value: Any) -> None:
        counters["windows"] += 1

    topic = app.topic(args.topic, key_deserializer="bytes", value_deserializer="bytes")
    sdf = app.dataframe(topic)
    sdf = sdf.apply(rate).filter(lambda r: r is not None)
    sdf = sdf.set_timestamp(lambda r, _key, _ts, _headers: int(r.event.ts.timestamp() * 1000))
    sdf.sink(ChdbSink())
    windows = sdf.tumbling_window(duration_ms=WINDOW_MS).reduce(window_reducer, window_initializer).final()
    windows.update(count_window)
    started = time.perf_counter()
    try:
        app.run(timeout=args.idle_timeout)
    finally:
        accounts.stop()
        warehouse.close()
    return {
        "points": points,
        "rejected": counters["rejected"],
        "windows_emitted": counters["windows"],
        "run_s": time.perf_counter() - started,
        "peak_rss_mb": peak_rss_mb(os.getpid()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peer")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--accounts-topic", required=True)
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--expected", type=int, required=True)
    parser.add_argument("--price-book", default=None)
    parser.add_argument("--commit-interval", type=float, default=0.5)
    parser.add_argument("--commit-every", type=int, default=20_000)
    parser.add_argument("--idle-timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        import quixstreams  # noqa: F401
    except ImportError:
        print(
            json.dumps(
                {
                    "error": "quixstreams is not installed: run `make bench` (it builds .venv-bench "
                    "with Quix Streams) or set USAGEFLOW_BENCH_PEER_PYTHON"
                }
            )
        )
        return 3
    result = run(args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
