"""The live engine's copy of the prepaid-credit grants (the `credits_low` alert rule).

Grants and the draws of issued invoices live in the warehouse (usageflow.billing.credits and
.closing). The pipeline reads them all (a small table) before its first batch, again at most
every `interval_s`, and before the next batch whenever this worker itself recorded a grant or a
close (`mark_stale`, from its HTTP API); a grant written straight into a ClickHouse server by
the CLI is seen within `interval_s`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from usageflow.alerting.engine import LiveEngine
from usageflow.billing.ledger import grant_balances
from usageflow.warehouse import Warehouse

DEFAULT_INTERVAL_S = 5.0


class CreditFeed:
    def __init__(self, warehouse: Warehouse, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.warehouse = warehouse
        self.interval_s = interval_s
        self._loaded_at: float | None = None
        self._stale = threading.Event()

    def mark_stale(self) -> None:
        """Read the grants again before the next batch (a grant or a close just happened)."""
        self._stale.set()

    def refresh(self, engine: LiveEngine, call: Callable[[str, Callable[[], Any]], Any]) -> None:
        """Give `engine` the current grants if they are due to be read; `call` is the pipeline's
        retry policy."""
        now = time.monotonic()
        due = self._loaded_at is None or now - self._loaded_at >= self.interval_s or self._stale.is_set()
        if not due:
            return
        self._stale.clear()
        engine.set_credits(call("reading prepaid credits", lambda: grant_balances(self.warehouse)))
        self._loaded_at = now
