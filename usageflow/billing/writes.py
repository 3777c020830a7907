"""Billing writes by name (closing a month, granting credits), done locally or by the running
worker — the write side of usageflow.billing.access.

While `usageflow worker` owns the embedded warehouse, the CLI sends a write to it as
`POST http://127.0.0.1:<port>/api/write/<name>` with the parameters as a JSON object; the
worker runs it on its own warehouse connection and answers with the same JSON the local call
returns. With a ClickHouse server every process writes directly.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from usageflow.billing.access import endpoint_file
from usageflow.errors import UsageflowError, WarehouseLockedError
from usageflow.warehouse import Warehouse, open_warehouse

WriteFn = Callable[..., Any]
CLOSE_TIMEOUT_S = 600  # a close of many accounts writes thousands of rows


def _close(wh: Warehouse, month: str, account: str | None = None) -> Any:
    from usageflow.billing.closing import close_month

    return [inv.to_json() for inv in close_month(wh, month, account or None)]


def _grant(
    wh: Warehouse,
    grant_id: str,
    account: str,
    amount: str,
    expires: str | None = None,
    priority: int | str = 0,
) -> Any:
    from usageflow.billing.credits import CreditError, grant, parse_amount, parse_expiry

    try:
        rank = int(priority)
    except (TypeError, ValueError):
        raise CreditError(f"priority must be an integer, not {priority!r}") from None
    stored, created = grant(
        wh,
        grant_id=grant_id,
        account_id=account,
        amount=parse_amount(str(amount)),
        expires=parse_expiry(expires),
        priority=rank,
    )
    return {
        "grant_id": stored.grant_id,
        "account_id": stored.account_id,
        "amount": f"{stored.amount:.2f}",
        "expires": stored.expires.isoformat() if stored.expires else None,
        "priority": stored.priority,
        "created": created,
    }


WRITES: dict[str, WriteFn] = {"close": _close, "grant": _grant}


def run_write(warehouse_url: str, data_dir: Path, name: str, **params: Any) -> Any:
    """Run write `name` on the warehouse, or through the worker that holds it."""
    try:
        warehouse = open_warehouse(warehouse_url)
    except WarehouseLockedError as locked:
        return _post_worker(data_dir, name, params, locked)
    try:
        return WRITES[name](warehouse, **params)
    finally:
        warehouse.close()


def _post_worker(data_dir: Path, name: str, params: dict[str, Any], locked: Exception) -> Any:
    try:
        info = json.loads(endpoint_file(data_dir).read_text())
    except (OSError, ValueError):
        raise locked from None
    body = json.dumps({k: v for k, v in params.items() if v is not None}).encode()
    request = urllib.request.Request(  # noqa: S310 - our own worker on the loopback
        f"{info['url']}/api/write/{name}", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=CLOSE_TIMEOUT_S) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        with contextlib.suppress(ValueError):
            detail = json.loads(detail).get("error", detail)
        raise UsageflowError(detail) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise UsageflowError(f"the warehouse is held by a worker that does not answer at {info['url']}: {exc}") from exc
