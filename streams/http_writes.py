"""The worker's billing writes over HTTP: `POST /api/write/<name>` with a JSON object of
parameters (usageflow.billing.writes), for the CLI while this worker owns the embedded
warehouse. A close or a grant is followed by a fresh read of the grants before the next batch,
so the `credits_low` rule sees it at once."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import faust
from faust.web import View

from usageflow.errors import UsageflowError

if TYPE_CHECKING:
    from usageflow.streams.app import Worker, WorkerParts


def register_writes(app: faust.App, parts: WorkerParts, worker: Worker) -> None:
    class BillingWrite(View):
        async def post(self, request: Any, name: str) -> Any:
            from usageflow.billing.writes import WRITES

            write = WRITES.get(name)
            if write is None:
                return self.json({"error": f"no write named {name!r}"}, status=404)
            try:
                params = await request.json()
            except ValueError:
                params = None
            if not isinstance(params, dict):
                return self.json({"error": "the body must be a JSON object of parameters"}, status=400)
            loop = asyncio.get_running_loop()
            try:
                result = await loop.run_in_executor(None, lambda: write(parts.warehouse, **params))
            except (UsageflowError, TypeError, ValueError, ArithmeticError) as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                return self.json({"error": first}, status=400)
            finally:
                worker.pipeline.credit_feed.mark_stale()
            return self.json(result)

    app.page("/api/write/{name}")(BillingWrite)
