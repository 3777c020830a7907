"""Billing read latency over a generated month: invoice and usage report, 20 runs each.

Runs in its own process with its own chDB path: loads `--rows` rated rows for `--accounts`
accounts (the first up to 100,000 rated one by one with `rate_event`, the rest copies with
fresh event ids, in 100,000-row Arrow inserts), then times `invoices(wh, month, account)` and
`report(wh, month, account)` for a spread of accounts, `invoices(wh, month)` for all, and the
per-account invoices again after `OPTIMIZE TABLE rated_events FINAL`.

    python -m benchmarks.queries --warehouse DIR --rows N --accounts A --runs 20
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import orjson

BASE_ROWS = 100_000
ALL_ACCOUNTS_RUNS = 5


def load_month(warehouse: Any, rows: int, accounts: int, book: Any) -> float:
    """Rows into rated_events; returns seconds spent inserting (rating excluded)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from benchmarks.workload import bench_accounts, bench_shape
    from usageflow.billing.tables import upsert_accounts
    from usageflow.demo.generator import generate_events
    from usageflow.pricing.rating import rate_event
    from usageflow.schemas import UsageEvent
    from usageflow.streams.rated_rows import rated_events_table

    directory = {a.account_id: a for a in bench_accounts(accounts)}
    upsert_accounts(warehouse, list(directory.values()))
    base = min(rows, BASE_ROWS)
    rated = []
    for raw in generate_events(base, bench_shape(accounts), seed=23):
        event = UsageEvent.model_validate(raw)
        rated.append(rate_event(event, directory.get(event.account_id), book))
    table = rated_events_table(rated)
    ids = table.column("event_id")
    inserting = 0.0
    copy = 0
    remaining = rows
    while remaining > 0:
        part = (
            table
            if copy == 0
            else table.set_column(0, "event_id", pc.binary_join_element_wise(ids, pa.scalar(f"-{copy}"), ""))
        )
        part = part.slice(0, min(remaining, part.num_rows))
        started = time.perf_counter()
        warehouse.insert_arrow("rated_events", part)
        inserting += time.perf_counter() - started
        remaining -= part.num_rows
        copy += 1
    return inserting


def time_ms(work: Any) -> float:
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1000


def run(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.workload import MONTH, account_ids
    from usageflow.billing.queries import invoices, report
    from usageflow.billing.tables import load_price_book as load_price_tables
    from usageflow.pricing.price_book import load_price_book
    from usageflow.warehouse import open_warehouse
    from usageflow.warehouse.migrate import migrate

    book = load_price_book(Path(args.price_book) if args.price_book else None)
    warehouse = open_warehouse(f"chdb:{args.warehouse}")
    try:
        migrate(warehouse)
        load_price_tables(warehouse, book)
        load_s = load_month(warehouse, args.rows, args.accounts, book)
        stored = warehouse.query("SELECT count() AS n FROM rated_events")[0]["n"]
        ids = account_ids(args.accounts)
        as_of = date(2026, 11, 28)
        # One untimed call of each: the first query of a process pays for loading the views.
        invoices(warehouse, MONTH, ids[0])
        report(warehouse, MONTH, ids[0], as_of=as_of)
        step = max(1, len(ids) // args.runs)
        sample = [ids[(i * step) % len(ids)] for i in range(args.runs)]
        invoice_ms = [time_ms(lambda a=a: invoices(warehouse, MONTH, a)) for a in sample]
        report_ms = [time_ms(lambda a=a: report(warehouse, MONTH, a, as_of=as_of)) for a in sample]
        all_ms = [time_ms(lambda: invoices(warehouse, MONTH)) for _ in range(ALL_ACCOUNTS_RUNS)]
        heaviest = invoices(warehouse, MONTH, ids[0])[0]
        # The same invoices once the month's parts are merged into one (what background merges
        # converge to for a closed month): FINAL then has nothing left to merge.
        merge_s = time_ms(lambda: warehouse.command("OPTIMIZE TABLE rated_events FINAL")) / 1000
        invoice_merged_ms = [time_ms(lambda a=a: invoices(warehouse, MONTH, a)) for a in sample]
    finally:
        warehouse.close()
    return {
        "rows": int(stored),
        "accounts": args.accounts,
        "load_s": load_s,
        "invoice_ms": invoice_ms,
        "report_ms": report_ms,
        "invoices_all_ms": all_ms,
        "merge_s": merge_s,
        "invoice_merged_ms": invoice_merged_ms,
        "heaviest_account": {
            "account_id": heaviest.account_id,
            "tokens": heaviest.tokens,
            "total": str(heaviest.total),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.queries")
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--price-book", default=None)
    args = parser.parse_args(argv)
    sys.stdout.write(orjson.dumps(run(args)).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
