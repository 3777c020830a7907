"""Where the worker's time goes, batch by batch, without Kafka: the same calls as
`streams.handler.BatchHandler.handle` (decode+validate+rate, seed, sink write, live engine),
timed per stage and then under cProfile.

Runs in its own process with its own chDB path (migrated like the worker's warehouse):

    python -m benchmarks.hotpath --warehouse DIR --batch 20000 --accounts 1000
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from benchmarks.spy import short_path

TOP = 25


class BatchPath:
    """The worker's per-batch work with a stopwatch per stage. The sink stages are
    `WarehouseSink.write` split open: dedupe query, Arrow table, chDB insert."""

    def __init__(self, args: argparse.Namespace) -> None:
        from usageflow.streams.sink import WarehouseSink

        from benchmarks.workload import bench_accounts
        from usageflow.alerting.engine import LiveEngine
        from usageflow.billing.tables import load_price_book as load_price_tables
        from usageflow.billing.tables import upsert_accounts
        from usageflow.pricing.price_book import load_price_book
        from usageflow.warehouse import open_warehouse
        from usageflow.warehouse.migrate import migrate

        self.book = load_price_book(Path(args.price_book) if args.price_book else None)
        self.warehouse = open_warehouse(f"chdb:{args.warehouse}")
        migrate(self.warehouse)
        load_price_tables(self.warehouse, self.book)
        directory = {a.account_id: a for a in bench_accounts(args.accounts)}
        upsert_accounts(self.warehouse, list(directory.values()))
        self.lookup: Callable[[str], Any] = directory.get
        self.sink = WarehouseSink(self.warehouse)
        self.engine = LiveEngine(self.book, allowed_lateness=timedelta(hours=48))
        self.stages: dict[str, float] = {}
        self.alerts = 0

    def timed(self, name: str, work: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        value = work()
        self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - started
        return value

    def handle(self, records: list[Any]) -> None:
        from usageflow.streams.live_store import seed_accounts
        from usageflow.streams.rated_rows import rated_events_table

        from usageflow.ingest.batch import process_batch

        outcome = self.timed("decode_validate_rate", lambda: process_batch(records, self.lookup, self.book))
        if not self.engine.restored:
            self.timed("restore_live_state", lambda: self.engine.restore(seed_accounts(self.warehouse)))
        now = datetime.now(UTC)
        self.engine.activate({r.event.account_id for r in outcome.rated}, self.lookup, now)
        fresh_idx = self.timed("sink_dedupe_query", lambda: self.sink.fresh(outcome.rated))
        rows = [outcome.rated[i] for i in fresh_idx]
        table = self.timed("arrow_table", lambda: rated_events_table(rows))
        self.timed("chdb_insert", lambda: self.warehouse.insert_arrow("rated_events", table))
        fresh = [(outcome.partitions[i], outcome.rated[i]) for i in fresh_idx]
        live = self.timed("live_engine", lambda: self.engine.process(fresh, self.lookup, datetime.now(UTC)))
        self.alerts += len(live.alerts)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.workload import event_lines
    from usageflow.ingest.batch import RawRecord

    path = BatchPath(args)
    lines = list(event_lines(args.batch * 3, args.accounts))
    batches = [
        [RawRecord(b"k", line, "usage.events", i % 4, i) for i, line in enumerate(lines[n : n + args.batch], start=n)]
        for n in range(0, len(lines), args.batch)
    ]
    path.handle(batches[0])  # warm-up: seeds every account, loads chDB's views
    path.stages.clear()
    path.alerts = 0
    started = time.perf_counter()
    path.handle(batches[1])
    wall = time.perf_counter() - started
    stages, alerts = dict(path.stages), path.alerts

    profiler = cProfile.Profile()
    profiler.enable()
    path.handle(batches[2])
    profiler.disable()
    path.warehouse.close()
    return {
        "batch": args.batch,
        "wall_s": wall,
        "events_per_s": args.batch / wall,
        "stages_s": stages,
        "alerts_in_batch": alerts,
        "top_tottime": _top(profiler, "tottime"),
        "top_cumulative": _top(profiler, "cumulative"),
    }


def _top(profiler: cProfile.Profile, key: str) -> list[dict[str, Any]]:
    stats = pstats.Stats(profiler, stream=io.StringIO())
    stats.sort_stats(key)
    rows = []
    for func in stats.fcn_list[:TOP]:  # type: ignore[attr-defined]  # filled by sort_stats
        calls, _primitive, tottime, cumtime, _callers = stats.stats[func]  # type: ignore[attr-defined]
        filename, line, name = func
        rows.append(
            {
                "function": f"{short_path(filename)}:{line}({name})",
                "calls": calls,
                "tottime_s": round(tottime, 4),
                "cumtime_s": round(cumtime, 4),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hotpath")
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--price-book", default=None)
    args = parser.parse_args(argv)
    sys.stdout.write(orjson.dumps(run(args)).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
