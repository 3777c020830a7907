"""Where the worker's time goes, batch by batch: `BatchPipeline.process` itself (the code the
worker runs, with its real outbox on the bench's broker and its own chDB path), fed batches
without the events consumer. After a warm-up batch, `--timed` batches (each step's figure is
the best of them: the machine is shared and noisy) give seconds per step from the pipeline's
report; a last batch runs under cProfile.

    python -m benchmarks.hotpath --warehouse DIR --bootstrap HOST:PORT --batch 20000 --accounts 1000
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from benchmarks.spy import short_path

TOP = 25


def build_pipeline(args: argparse.Namespace) -> Any:
    from benchmarks.workload import bench_accounts
    from usageflow.alerting.engine import LiveEngine
    from usageflow.billing.tables import load_price_book as load_price_tables
    from usageflow.billing.tables import upsert_accounts
    from usageflow.bus.admin import ensure_topics
    from usageflow.config import KafkaSettings, StreamSettings, TopicSettings
    from usageflow.pricing.price_book import load_price_book
    from usageflow.streams.outbox import KafkaOutbox
    from usageflow.streams.pipeline import BatchPipeline, Topics
    from usageflow.warehouse import open_warehouse
    from usageflow.warehouse.migrate import migrate

    book = load_price_book(Path(args.price_book) if args.price_book else None)
    warehouse = open_warehouse(f"chdb:{args.warehouse}")
    migrate(warehouse)
    load_price_tables(warehouse, book)
    directory = {a.account_id: a for a in bench_accounts(args.accounts)}
    upsert_accounts(warehouse, list(directory.values()))
    kafka = KafkaSettings(bootstrap=args.bootstrap)
    topics = TopicSettings(topic_prefix=args.topic_prefix)
    ensure_topics(kafka, topics)
    stop = threading.Event()
    return BatchPipeline(
        warehouse,
        directory.get,
        book,
        LiveEngine(book, allowed_lateness=timedelta(hours=48)),
        KafkaOutbox(kafka, stop),
        Topics(alerts=topics.alerts, dlq=topics.dlq, windows=topics.windows),
        kafka,
        stop,
        open_row_interval_s=StreamSettings().window_open_row_interval_s,  # as the worker has it
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.workload import event_lines
    from usageflow.ingest.batch import RawRecord

    pipeline = build_pipeline(args)
    lines = list(event_lines(args.batch * (2 + args.timed), args.accounts))
    batches = [
        [RawRecord(b"k", line, "usage.events", i % 4, i) for i, line in enumerate(lines[n : n + args.batch], start=n)]
        for n in range(0, len(lines), args.batch)
    ]
    pipeline.process(batches[0])  # warm-up: reads back alerts, seeds every account, loads chDB's views
    timed = []  # (wall, cpu, report) of each timed batch; the figures are the best of them
    for batch in batches[1:-1]:
        started, cpu = time.perf_counter(), time.process_time()
        report = pipeline.process(batch)
        timed.append((time.perf_counter() - started, time.process_time() - cpu, report))
    wall, _cpu, report = min(timed, key=lambda t: t[0])
    seconds = {step: min(t[2].seconds.get(step, 0.0) for t in timed) for step in report.seconds}

    profiler = cProfile.Profile()
    profiler.enable()
    pipeline.process(batches[-1])
    profiler.disable()
    pipeline.outbox.close()
    pipeline.warehouse.close()
    return {
        "batch": args.batch,
        "timed_batches": args.timed,
        "wall_s": wall,
        "cpu_s": min(t[1] for t in timed),  # the process's CPU time, all threads (chDB's, librdkafka's)
        "events_per_s": args.batch / wall,
        "stages_s": seconds,
        "us_per_event": {step: round(s * 1e6 / args.batch, 2) for step, s in seconds.items()},
        "alerts_in_batch": len(report.alerts),
        "windows_in_batch": report.windows,
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
    parser.add_argument("--timed", type=int, default=3, help="timed batches; each figure is the best of them")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--price-book", default=None)
    parser.add_argument("--bootstrap", required=True, help="the broker the pipeline's outbox sends to")
    parser.add_argument("--topic-prefix", default="profile.")
    args = parser.parse_args(argv)
    sys.stdout.write(orjson.dumps(run(args)).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
