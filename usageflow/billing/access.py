"""Billing queries by name, served locally or by the running worker.

chDB lets one process own a path. While `usageflow worker` owns the embedded warehouse, the
CLI's readers ask the worker instead: it serves the same queries at
`http://127.0.0.1:<port>/api/<name>` and records its address in `<data_dir>/worker.json`.
With a ClickHouse server there is no lock and every process queries it directly.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from usageflow.errors import UsageflowError, WarehouseLockedError
from usageflow.warehouse import Warehouse, open_warehouse

QueryFn = Callable[..., Any]


def _invoices(wh: Warehouse, month: str, account: str | None = None) -> Any:
    from usageflow.billing.ledger import month_invoices

    return [inv.to_json() for inv in month_invoices(wh, month, account)]


def _report(wh: Warehouse, month: str, account: str | None = None) -> Any:
    """Usage reports, each with the account's invoice of the month (draft or issued) and its
    prepaid credits."""
    from usageflow.billing.credits import balance_json
    from usageflow.billing.ledger import grant_balances, month_invoices
    from usageflow.billing.queries import report
    from usageflow.pricing.credits import in_draw_order

    reports = [r.to_json() for r in report(wh, month, account)]
    invoices = {inv.account_id: inv.to_json() for inv in month_invoices(wh, month, account)}
    balances = grant_balances(wh, [r["account_id"] for r in reports])
    for r in reports:
        r["invoice"] = invoices.get(r["account_id"])
        r["credits"] = [balance_json(b) for b in in_draw_order(balances.get(r["account_id"], []))]
    return reports


def _credits_balance(wh: Warehouse, account: str) -> Any:
    from usageflow.billing.credits import balance, balance_json

    return [balance_json(b) for b in balance(wh, account)]


def _recommend(wh: Warehouse, account: str, month: str | None = None, growth: str = "0.2") -> Any:
    from usageflow.billing.queries import recommend

    return recommend(wh, account, month, Decimal(growth)).to_json()


def _reconcile(wh: Warehouse, month: str, account: str | None = None, by_account: object = False) -> Any:
    from usageflow.billing.reconcile import reconcile

    flag = by_account is True or str(by_account).lower() in {"1", "true"}  # a bool, or text from a query string
    return [r.to_json() for r in reconcile(wh, month, account, flag)]


def _account_known(wh: Warehouse, account: str) -> Any:
    """Whether an account id was loaded (and not deleted) or appears in any stored event."""
    rows = wh.query(
        "SELECT (SELECT count() FROM accounts FINAL WHERE account_id = {a:String} AND deleted = 0)"
        " + (SELECT count() FROM (SELECT 1 FROM rated_events WHERE account_id = {a:String} LIMIT 1)) AS n",
        {"a": account},
    )
    return {"account_id": account, "known": bool(rows and rows[0]["n"])}


QUERIES: dict[str, QueryFn] = {
    "invoices": _invoices,
    "report": _report,
    "recommend": _recommend,
    "reconcile": _reconcile,
    "account_known": _account_known,
    "credits_balance": _credits_balance,
}


def endpoint_file(data_dir: Path) -> Path:
    return data_dir / "worker.json"


def write_endpoint(data_dir: Path, host: str, port: int, warehouse: str) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    endpoint_file(data_dir).write_text(
        json.dumps({"pid": os.getpid(), "url": f"http://{host}:{port}", "warehouse": warehouse})
    )


def remove_endpoint(data_dir: Path) -> None:
    path = endpoint_file(data_dir)
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def run_query(warehouse_url: str, data_dir: Path, name: str, **params: Any) -> Any:
    """Run query `name` on the warehouse, or through the worker that holds it."""
    try:
        warehouse = open_warehouse(warehouse_url)
    except WarehouseLockedError as locked:
        return _ask_worker(data_dir, name, params, locked)
    try:
        return QUERIES[name](warehouse, **params)
    finally:
        warehouse.close()


def worker_status(data_dir: Path) -> dict[str, Any]:
    """GET /status of the worker recorded in `<data_dir>/worker.json`."""
    try:
        info = json.loads(endpoint_file(data_dir).read_text())
    except (OSError, ValueError):
        info = None
    if not isinstance(info, dict) or not _alive(info.get("pid")):
        # no file, or the file of a worker that was killed before it could remove it
        raise UsageflowError(f"no worker is running for {data_dir} (start one with `usageflow worker`)") from None
    try:
        with urllib.request.urlopen(f"{info['url']}/status", timeout=10) as response:  # noqa: S310
            status: dict[str, Any] = json.loads(response.read())
    except (OSError, ValueError) as exc:
        raise UsageflowError(f"the worker at {info['url']} does not answer: {exc}") from exc
    return {"url": info["url"], "pid": info["pid"], **status}


def _alive(pid: object) -> bool:
    """Whether a process with this pid exists (signal 0 checks without signalling)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def _ask_worker(data_dir: Path, name: str, params: dict[str, Any], locked: Exception) -> Any:
    try:
        info = json.loads(endpoint_file(data_dir).read_text())
    except (OSError, ValueError):
        raise locked from None
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    url = f"{info['url']}/api/{name}?{query}"
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - our own worker
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        with contextlib.suppress(ValueError):
            detail = json.loads(detail).get("error", detail)
        raise UsageflowError(detail) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise UsageflowError(f"the warehouse is held by a worker that does not answer at {info['url']}: {exc}") from exc
