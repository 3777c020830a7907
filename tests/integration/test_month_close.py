"""Closing months through the real command, with the real broker and chDB: idempotent closes, a
close SIGKILLed at each of its steps and run again, closing while the worker runs and late
events arrive (exactly one adjustment), prepaid credits and the credits_low alert fired once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.cli import UsageflowCli
from tests.integration.test_alerts_stream import wait_for

pytestmark = pytest.mark.integration

ACCOUNTS = """
- account_id: edu-001
  plan: standard
  contract_months: 12
  educational: true
- account_id: walk-in
  plan: payg
"""


def ev(event_id: str, account: str, day: str, tokens: int) -> dict[str, object]:
    return {
        "schema_version": 1,
        "event_id": event_id,
        "account_id": account,
        "api_key_id": "key-a",
        "model": "qwen-max",
        "region": "us-west",
        "input_tokens": tokens,
        "output_tokens": 0,
        "ts": f"{day}T14:00:00+08:00",  # peak hours in Asia/Shanghai
        "latency_ms": 500,
    }


def write(path: Path, events: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def october(accounts: list[str]) -> list[dict[str, object]]:
    """500,000 tokens on each of 5 days for every account: 2,500,000 each."""
    return [ev(f"{a}-{d}", a, f"2026-10-{10 + d:02d}", 500_000) for a in accounts for d in range(5)]


def one_line_failure(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_close_through_the_cli_is_idempotent(cli: UsageflowCli, tmp_path: Path) -> None:
    (tmp_path / "accounts.yaml").write_text(ACCOUNTS)
    cli.run("accounts", "load", str(tmp_path / "accounts.yaml"))
    cli.run("replay", str(write(tmp_path / "oct.jsonl", october(["edu-001", "walk-in"]))))
    cli.run("credits", "grant", "--account", "walk-in", "--amount", "5", "--id", "w-1", "--expires", "2026-10-31")
    drafts = cli.json("invoice", "--month", "2026-10", "--format", "json")
    assert [(i["account_id"], i["status"], i["total"]) for i in drafts] == [
        ("edu-001", "draft", "681.20"),  # docs/pricing.md §6
        ("walk-in", "draft", "6.46"),  # 2,500,000 tokens: 15.00 × 0.764 = 11.46, less the 5.00 grant
    ]
    issued = cli.json("invoice", "close", "--month", "2026-10", "--format", "json")
    assert [(i["account_id"], i["number"], i["status"]) for i in issued] == [
        ("edu-001", "INV-202610-000001", "issued"),
        ("walk-in", "INV-202610-000002", "issued"),
    ]
    for draft, done in zip(drafts, issued, strict=True):
        assert {k: v for k, v in done.items() if k not in ("status", "number", "issued_at")} == {
            k: v for k, v in draft.items() if k != "status"
        }
    assert issued[1]["lines"][-1] == {
        "kind": "credits",
        "amount": "-5.00",
        "draws": [{"grant_id": "w-1", "amount": "5.00"}],
    }
    assert cli.json("invoice", "close", "--month", "2026-10", "--format", "json") == issued
    assert cli.json("invoice", "--month", "2026-10", "--format", "json") == issued
    assert cli.json("credits", "balance", "--account", "walk-in", "--format", "json") == [
        {"grant_id": "w-1", "amount": "5.00", "remaining": "0.00", "expires": "2026-10-31", "priority": 0}
    ]
    table = cli.run("invoice", "close", "--month", "2026-10").stdout
    assert "INV-202610-000002" in table
    reports = {r["account_id"]: r for r in cli.json("report", "--month", "2026-10", "--format", "json")}
    assert reports["walk-in"]["invoice"] == issued[1]
    assert reports["walk-in"]["credits"][0]["remaining"] == "0.00" and reports["edu-001"]["credits"] == []
    cli.run("report", "--month", "2026-10", "--format", "html", "--out", str(tmp_path / "r.html"))
    page = (tmp_path / "r.html").read_text()
    assert "invoice INV-202610-000002" in page and "prepaid credits (w-1: 5.00)" in page
    assert "not over" in one_line_failure(cli.run("invoice", "close", "--month", "2099-01", check=False))
    assert "unknown account 'nope'" in one_line_failure(cli.run("credits", "balance", "--account", "nope", check=False))
    done = cli.run("credits", "grant", "--account", "walk-in", "--amount", "1.005", "--id", "x", check=False)
    assert done.returncode == 2 and "--amount" in done.stderr


KILL = """
import os, signal, sys
from usageflow.billing import closing
from usageflow.warehouse import open_warehouse

step, count = sys.argv[1], int(sys.argv[2])
closing.CHUNK = 2

def die(name, n):
    if name == step and n >= count:
        os.kill(os.getpid(), signal.SIGKILL)

closing.close_month(open_warehouse(os.environ["USAGEFLOW_WAREHOUSE"]), "2026-10", on_step=die)
raise SystemExit("the close was not killed")
"""


@pytest.mark.parametrize(("step", "count"), [("record", 0), ("invoices", 2), ("invoices", 4), ("done", 0)])
def test_a_close_killed_at_any_step_is_completed_by_the_next(
    cli: UsageflowCli, tmp_path: Path, step: str, count: int
) -> None:
    accounts = ["acct-c", "acct-a", "acct-e", "acct-b", "acct-d"]
    cli.run("replay", str(write(tmp_path / "oct.jsonl", october(accounts))))
    drafts = cli.json("invoice", "--month", "2026-10", "--format", "json")
    killed = subprocess.run(
        [sys.executable, "-c", KILL, step, str(count)],
        env=cli.env,
        cwd=cli.workdir,
        capture_output=True,
        timeout=180,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # readers see no half-issued close: the invoices are still drafts until it is completed
    seen = cli.json("invoice", "--month", "2026-10", "--format", "json")
    assert [i["status"] for i in seen] == (["issued"] * 5 if step == "done" else ["draft"] * 5)
    issued = cli.json("invoice", "close", "--month", "2026-10", "--format", "json")
    assert [(i["account_id"], i["number"]) for i in issued] == [
        (a, f"INV-202610-{n:06d}") for n, a in enumerate(sorted(accounts), 1)
    ]
    assert len({i["issued_at"] for i in issued}) == 1  # the run's, as recorded before the kill
    for draft, done in zip(drafts, issued, strict=True):
        assert done["lines"] == draft["lines"] and done["total"] == draft["total"]
    assert cli.json("invoice", "close", "--month", "2026-10", "--format", "json") == issued
    rows = warehouse_rows(cli, "SELECT count() AS n, uniqExact(number) AS numbers FROM issued_invoices")
    assert rows == [{"n": 5, "numbers": 5}]  # no invoice stored twice, no number twice


def warehouse_rows(cli: UsageflowCli, sql: str) -> list[dict[str, Any]]:
    code = (
        "import json, os, sys; from usageflow.warehouse import open_warehouse; "
        "print(json.dumps(open_warehouse(os.environ['USAGEFLOW_WAREHOUSE']).query(sys.argv[1])))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, sql],
        env=cli.env,
        cwd=cli.workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def credit_alerts(cli: UsageflowCli) -> list[tuple[str, str, str]]:
    alerts = cli.json("alerts", "--format", "json")
    return sorted((a["account_id"], a["period"], str(a["level"])) for a in alerts if a["type"] == "credits_low")


def test_closing_while_the_worker_runs_late_events_and_credits(cli: UsageflowCli, tmp_path: Path) -> None:
    (tmp_path / "accounts.yaml").write_text(ACCOUNTS)
    cli.run("accounts", "load", str(tmp_path / "accounts.yaml"))
    progress = f"http://127.0.0.1:{cli.env['USAGEFLOW_STREAM_HTTP_PORT']}/progress"
    first = [*october(["edu-001"]), ev("w-1", "walk-in", "2026-11-02", 1_000_000)]
    late = [ev("late-1", "edu-001", "2026-10-28", 100_000), ev("w-2", "walk-in", "2026-11-03", 1_000_000)]
    later = [ev("late-2", "edu-001", "2026-10-29", 400_000), ev("w-3", "walk-in", "2026-11-04", 200_000)]
    worker = cli.popen("worker")
    try:
        cli.run("publish", str(write(tmp_path / "a.jsonl", first)))
        wait_for(progress, lambda p: p.get("stored", 0) >= len(first))
        # through the worker (it holds the embedded warehouse): a grant, then October closed while
        # late events arrive
        cli.run("credits", "grant", "--account", "walk-in", "--amount", "10", "--id", "w-credit")
        publisher = cli.popen("publish", str(write(tmp_path / "b.jsonl", late)))
        cli.run("invoice", "close", "--month", "2026-10")
        assert publisher.wait(timeout=120) == 0
        wait_for(progress, lambda p: p.get("stored", 0) >= len(first) + len(late))

        (oct_inv,) = cli.json("invoice", "--month", "2026-10", "--format", "json")
        assert oct_inv["status"] == "issued" and oct_inv["number"] == "INV-202610-000001"
        # issued before or after the late event landed: either way the exact difference is pending
        pending = oct_inv.get("pending_adjustment", "0.00")
        assert (float(oct_inv["total"]), pending) in ((681.20, "0.32"), (681.52, "0.00"))
        novembers = {i["account_id"]: i for i in cli.json("invoice", "--month", "2026-11", "--format", "json")}
        carried = [line for line in novembers["edu-001"]["lines"] if line["kind"] == "adjustment"]
        expected = [{"kind": "adjustment", "for_month": "2026-10", "amount": "0.32"}] if pending != "0.00" else []
        assert carried == expected

        # November closed: the adjustment is part of an issued invoice, once
        issued = {i["account_id"]: i for i in cli.json("invoice", "close", "--month", "2026-11", "--format", "json")}
        assert [line for line in issued["edu-001"]["lines"] if line["kind"] == "adjustment"] == carried
        (oct_inv,) = cli.json("invoice", "--month", "2026-10", "--format", "json")
        assert "pending_adjustment" not in oct_inv
        walk_in = issued["walk-in"]  # 2,000,000 tokens: 12.00 × 0.78 = 9.36, paid by the 10.00 grant
        assert walk_in["lines"][-1]["amount"] == "-9.36" and walk_in["total"] == "0.00"

        cli.run("publish", str(write(tmp_path / "c.jsonl", later)))
        wait_for(progress, lambda p: p.get("stored", 0) >= len(first) + len(late) + len(later))
        december = {i["account_id"]: i for i in cli.json("invoice", "--month", "2026-12", "--format", "json")}
        adjustments = [line for line in december["edu-001"]["lines"] if line["kind"] == "adjustment"]
        # 3,000,000 tokens: 682.83, of which 681.52 was billed (issued, or issued plus carried)
        assert [(a["for_month"], a["amount"]) for a in adjustments] == [("2026-10", "1.31")]
        # walk-in's November: 2,200,000 tokens now 10.20, 9.36 issued; the rest of its grant pays
        assert [(line["kind"], line.get("for_month"), line["amount"]) for line in december["walk-in"]["lines"]] == [
            ("usage", None, "0.00"),
            ("adjustment", "2026-11", "0.84"),
            ("credits", None, "-0.64"),
        ]
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    # credits_low: w-2 took walk-in's November to 9.36 of its 10.00 (0.64 left <= 2.00); w-3 used it
    # up; a replay of everything (duplicates) fires nothing again
    assert credit_alerts(cli) == [("walk-in", "2026-11", "0"), ("walk-in", "2026-11", "0.2")]
    cli.run("replay", str(write(tmp_path / "all.jsonl", first + late + later)))
    assert credit_alerts(cli) == [("walk-in", "2026-11", "0"), ("walk-in", "2026-11", "0.2")]
