"""`usageflow rerate` (docs/pricing.md §11): a corrected price version re-prices the stored
events of a month exactly once — repeating changes nothing, a rerate killed half-way leaves no
event priced twice or lost and a second run completes, and a running worker does it between
its batches and rates new events with the corrected book from then on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from tests.fixtures.cli import UsageflowCli
from tests.integration.test_alerts_stream import wait_for
from tests.oracle import billing as ref
from tests.oracle import rating as oracle
from usageflow.billing import queries
from usageflow.billing.tables import load_price_book
from usageflow.pricing.price_book import PriceBook, price_book_from_data
from usageflow.pricing.rating import rate_event
from usageflow.schemas import UsageEvent
from usageflow.streams.rated_rows import rated_events_table
from usageflow.streams.rerate import rerate_month
from usageflow.warehouse import Warehouse

pytestmark = pytest.mark.integration

MONTH = "2026-11"
START = "2026-11-01T00:00:00+08:00"


def book_with(max_input: str, cached: str = "0.0024") -> PriceBook:
    """Two versions; the second (from 15 November) prices qwen-max's input at `max_input`."""
    return price_book_from_data(
        {
            "versions": [
                {"effective_from": START},
                {
                    "effective_from": "2026-11-15T00:00:00+08:00",
                    "models": {
                        "qwen-max": {"flagship": True, "input_per_1k": max_input, "cached_input_per_1k": cached}
                    },
                },
            ]
        }
    )


def events(count: int) -> list[UsageEvent]:
    base = datetime(2026, 11, 1, 4, tzinfo=UTC)
    return [
        UsageEvent(
            schema_version=1,
            event_id=f"ev-{n:05d}",
            account_id=f"acct-{n % 3}",
            api_key_id="k1",
            model="qwen-max" if n % 4 else "qwen-plus",
            input_tokens=1_000 + n,
            cached_input_tokens=n % 500,
            output_tokens=300,
            reasoning_tokens=n % 100,
            ts=base + timedelta(hours=5 * n % (29 * 24)),
            latency_ms=50,
            extra_note=f"n{n}",  # an unknown field: kept through the rerate
        )
        for n in range(count)
    ]


def store(warehouse: Warehouse, book: PriceBook, made: list[UsageEvent]) -> None:
    load_price_book(warehouse, book)
    warehouse.insert_arrow("rated_events", rated_events_table([rate_event(e, None, book) for e in made]))


def expected(book: PriceBook, made: list[UsageEvent]) -> list[object]:
    out = []
    for account_id in sorted({e.account_id for e in made}):
        mine = [e for e in made if e.account_id == account_id]
        rows = [ref.usage_row(rate_event(e, None, book)) for e in mine]
        for e, row in zip(mine, rows, strict=True):
            assert row.list_cost == oracle.list_cost(e, book, None)
        out.append(ref.invoice(oracle.month_version(book, MONTH, "Asia/Shanghai"), account_id, MONTH, None, rows))
    return out


def test_rerate_reprices_once_and_repeating_changes_nothing(warehouse: Warehouse) -> None:
    made = events(300)
    wrong, corrected = book_with("0.0123"), book_with("0.006")
    store(warehouse, wrong, made)
    assert queries.invoices(warehouse, MONTH) == expected(wrong, made)

    load_price_book(warehouse, corrected)
    first = rerate_month(warehouse, corrected, MONTH, page_rows=64)
    late_max = [e for e in made if e.model == "qwen-max" and e.ts >= datetime(2026, 11, 14, 16, tzinfo=UTC)]
    assert first.repriced == len(late_max) and first.events == len(made)
    assert queries.invoices(warehouse, MONTH) == expected(corrected, made)
    assert warehouse.query("SELECT count() AS n FROM rated_events FINAL")[0]["n"] == len(made)
    extra = warehouse.query("SELECT extra FROM rated_events FINAL WHERE event_id = 'ev-00007'")[0]["extra"]
    assert json.loads(extra) == {"extra_note": "n7"}

    again = rerate_month(warehouse, corrected, MONTH)
    assert (again.repriced, again.unchanged) == (0, len(made))
    assert queries.invoices(warehouse, MONTH) == expected(corrected, made)


def test_rerate_of_one_account_and_unpriceable_events(warehouse: Warehouse) -> None:
    made = events(200)
    store(warehouse, book_with("0.0123"), made)
    report = rerate_month(warehouse, book_with("0.006"), MONTH, account_id="acct-1")
    assert report.accounts == ["acct-1"] and report.events == len([e for e in made if e.account_id == "acct-1"])
    no_plus = price_book_from_data({"models": {"qwen-max": {"flagship": True}}})
    report = rerate_month(warehouse, no_plus, MONTH)
    assert report.unpriceable == len([e for e in made if e.model == "qwen-plus"])
    assert warehouse.query("SELECT count() AS n FROM rated_events FINAL")[0]["n"] == len(made)  # none lost


STORE = """
import sys
from tests.integration.test_rerate import book_with, events, store
from usageflow.warehouse import open_warehouse
from usageflow.warehouse.migrate import migrate

warehouse = open_warehouse(sys.argv[1])
migrate(warehouse)
store(warehouse, book_with("0.0123"), events(int(sys.argv[2])))
warehouse.close()
"""

KILLER = """
import os, signal, sys
from usageflow.pricing.price_book import load_price_book
from usageflow.streams.rerate import rerate_month
from usageflow.warehouse import open_warehouse

pages = 0
def on_page(report):
    global pages
    pages += 1
    if pages == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)

warehouse = open_warehouse(sys.argv[1])
rerate_month(warehouse, load_price_book(__import__("pathlib").Path(sys.argv[2])), "2026-11", page_rows=25,
             on_page=on_page)
"""


def test_rerate_killed_half_way_completes_when_run_again(tmp_path: Path) -> None:
    url = f"chdb:{tmp_path / 'warehouse'}"
    made = events(240)
    corrected = tmp_path / "corrected.yaml"
    corrected.write_text(
        yaml.safe_dump(
            {
                "versions": [
                    {"effective_from": START},
                    {
                        "effective_from": "2026-11-15T00:00:00+08:00",
                        "models": {"qwen-max": {"flagship": True, "input_per_1k": "0.006", "cached_input_per_1k": "0"}},
                    },
                ]
            }
        )
    )
    # Every step in a process of its own (chDB: one path per process, and this test process
    # keeps the session's path open): the events stored, then a rerate killed after its
    # second page, then a rerate run to the end.
    subprocess.run([sys.executable, "-c", STORE, url, str(len(made))], check=True, timeout=300)
    done = subprocess.run([sys.executable, "-c", KILLER, url, str(corrected), "2"], check=False, timeout=300)
    assert done.returncode == -signal.SIGKILL

    from usageflow.pricing.price_book import load_price_book as load_book

    fixed = load_book(corrected)
    code = f"""
from usageflow.billing.tables import load_price_book
from usageflow.pricing.price_book import load_price_book as load_book
from usageflow.streams.rerate import rerate_month
from usageflow.warehouse import open_warehouse
import json, pathlib
warehouse = open_warehouse({url!r})
book = load_book(pathlib.Path({str(corrected)!r}))
load_price_book(warehouse, book)
first = rerate_month(warehouse, book, "2026-11").to_json()
again = rerate_month(warehouse, book, "2026-11").to_json()
rows = warehouse.query("SELECT count() AS n, sum(list_cost) AS cost FROM rated_events FINAL")[0]
print(json.dumps({{"first": first, "again": again, "n": rows["n"], "cost": str(rows["cost"])}}))
"""
    result = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    assert 0 < result["first"]["repriced"] < len([e for e in made if e.model == "qwen-max" and e.ts.day >= 15])
    assert result["again"]["repriced"] == 0
    assert result["n"] == len(made)  # no event lost, none counted twice
    want = sum(oracle.list_cost(e, fixed, None) for e in made)
    assert Decimal(result["cost"]) == Decimal(want.numerator) / Decimal(want.denominator)


def test_rerate_through_a_running_worker(cli: UsageflowCli, tmp_path: Path) -> None:
    book_file = tmp_path / "book.yaml"

    def write_book(max_input: str) -> None:
        book_file.write_text(
            yaml.safe_dump(
                {
                    "versions": [
                        {"effective_from": START},
                        {
                            "effective_from": "2026-11-15T00:00:00+08:00",
                            "models": {"qwen-max": {"flagship": True, "input_per_1k": max_input}},
                        },
                    ]
                }
            )
        )

    write_book("0.0123")
    cli.env["USAGEFLOW_PRICE_BOOK"] = str(book_file)
    made = events(120)
    lines = tmp_path / "events.jsonl"
    lines.write_text("".join(e.model_dump_json() + "\n" for e in made))
    base = f"http://127.0.0.1:{cli.env['USAGEFLOW_STREAM_HTTP_PORT']}"
    worker = cli.popen("worker")
    try:
        cli.run("publish", str(lines))
        wait_for(f"{base}/progress", lambda p: p.get("stored", 0) >= len(made), timeout=120)
        wrong = cli.json("invoice", "--month", MONTH, "--format", "json")

        write_book("0.006")
        first = cli.json("rerate", "--month", MONTH, "--format", "json")
        assert first["repriced"] > 0 and first["window_revisions"] > 0  # re-priced windows published again
        again = cli.json("rerate", "--month", MONTH, "--format", "json")
        assert (again["repriced"], again["window_revisions"]) == (0, 0)
        corrected = cli.json("invoice", "--month", MONTH, "--format", "json")
        assert sum(Decimal(i["total"]) for i in corrected) < sum(Decimal(i["total"]) for i in wrong)

        # a new event after the rerate is rated by the worker with the corrected book
        late = events(121)[-1].model_copy(update={"event_id": "after-rerate", "model": "qwen-max"})
        cli.run("publish", "-", input_bytes=(late.model_dump_json() + "\n").encode())
        wait_for(f"{base}/progress", lambda p: p.get("stored", 0) >= len(made) + 1, timeout=120)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    warehouse_url = cli.env["USAGEFLOW_WAREHOUSE"]
    code = f"""
import json
from usageflow.warehouse import open_warehouse
w = open_warehouse({warehouse_url!r})
print(json.dumps([str(r["input_per_1k"]) for r in w.query(
    "SELECT input_per_1k FROM rated_events FINAL WHERE event_id = 'after-rerate'")]))
"""
    env = {**os.environ, **cli.env}
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env).stdout
    assert [Decimal(x) for x in json.loads(out)] == [Decimal("0.006")]


def test_rerate_of_an_issued_month_is_carried_as_one_adjustment(warehouse: Warehouse) -> None:
    """An issued invoice never changes: the re-priced difference becomes the pending adjustment,
    carried onto the first open month (docs/pricing.md §11, §12)."""
    from usageflow.billing import closing, ledger

    made = events(300)
    wrong, corrected = book_with("0.0123"), book_with("0.006")
    store(warehouse, wrong, made)
    issued = {i.account_id: i for i in closing.close_month(warehouse, MONTH, now=datetime(2026, 12, 5, tzinfo=UTC))}
    load_price_book(warehouse, corrected)
    assert rerate_month(warehouse, corrected, MONTH).repriced > 0

    want = {i.account_id: i.total for i in expected(corrected, made)}
    for invoice in ledger.month_invoices(warehouse, MONTH):
        assert invoice.status == "issued" and invoice.total == issued[invoice.account_id].total  # frozen
        assert invoice.pending_adjustment == want[invoice.account_id] - invoice.total
    december = ledger.month_invoices(warehouse, "2026-12")
    assert sorted(d.account_id for d in december) == sorted(issued)
    for draft in december:
        (adjustment,) = [line for line in draft.lines if line.kind == "adjustment"]
        assert adjustment.for_month == MONTH
        assert adjustment.amount == want[draft.account_id] - issued[draft.account_id].total
