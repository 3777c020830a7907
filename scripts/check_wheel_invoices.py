"""Check `usageflow invoice --format json` of an installed usageflow against the test suite's
oracle, for the accounts and events a quickstart loaded (run by scripts/wheel-check.sh).

    python check_wheel_invoices.py ORACLE.py ACCOUNTS.yaml EVENTS.jsonl

Only the installed package and the oracle file are used: the checkout is not on sys.path.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from usageflow.cli.pipeline_cmd import read_accounts
from usageflow.errors import ValidationFailure
from usageflow.pricing.price_book import load_price_book
from usageflow.pricing.rating import rate_event
from usageflow.schemas.decode import decode_event


def load_oracle(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("usageflow_oracle", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def expected_invoices(oracle: Any, accounts_file: Path, events_file: Path) -> dict[str, dict[str, Any]]:
    book = load_price_book(None)
    accounts = {a.account_id: a for a in read_accounts(accounts_file)}
    rows: dict[tuple[str, str], list[Any]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    for line in events_file.read_bytes().splitlines():
        try:
            event = decode_event(line)
            rated = rate_event(event, accounts.get(event.account_id), book)
        except ValidationFailure:
            continue
        if (event.account_id, event.event_id) in seen:
            continue
        seen.add((event.account_id, event.event_id))
        rows[(event.account_id, rated.billing_month)].append(oracle.usage_row(rated))
    by_month: dict[str, dict[str, Any]] = defaultdict(dict)
    for (account_id, month), usage in rows.items():
        invoice = oracle.invoice(book, account_id, month, accounts.get(account_id), usage)
        by_month[month][account_id] = invoice
    return by_month


def main(oracle_path: str, accounts_file: str, events_file: str) -> int:
    oracle = load_oracle(Path(oracle_path))
    want = expected_invoices(oracle, Path(accounts_file), Path(events_file))
    if not want:
        print("wheel-check: the sample holds no billable events", file=sys.stderr)
        return 1
    problems = []
    for month, invoices in sorted(want.items()):
        out = subprocess.run(
            [str(Path(sys.executable).with_name("usageflow")), "invoice", "--month", month, "--format", "json"],
            capture_output=True,
            text=True,
            check=True,
        )
        got = {i["account_id"]: i for i in json.loads(out.stdout)}
        for account_id, invoice in invoices.items():
            billed = got.get(account_id)
            if billed is None:
                problems.append(f"{month} {account_id}: no invoice")
                continue
            lines = [(line["kind"], line["amount"]) for line in billed["lines"]]
            expected = [(line.kind, f"{line.amount:.2f}") for line in invoice.lines]
            if billed["total"] != f"{invoice.total:.2f}" or lines != expected:
                problems.append(
                    f"{month} {account_id}: billed {billed['total']} {lines}, oracle {invoice.total} {expected}"
                )
        print(f"wheel-check: {month}: {len(invoices)} invoice(s) checked", file=sys.stderr)
    for problem in problems:
        print(f"wheel-check: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
