"""The worker's HTTP endpoints (bound to 127.0.0.1 unless configured): health, progress,
status, Prometheus metrics, live windowed usage, and the billing queries (and, in
http_writes.py, the billing writes) it serves while it owns the embedded warehouse."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import faust

from usageflow.errors import UsageflowError
from usageflow.streams.lag import LagProbe
from usageflow.streams.live_store import latest_alerts, recent_windows

if TYPE_CHECKING:
    from usageflow.streams.app import Worker, WorkerParts

GRANULARITIES = {"minute": "1m", "hour": "1h", "day": "1d", "1m": "1m", "1h": "1h", "1d": "1d"}


def register_pages(app: faust.App, parts: WorkerParts, worker: Worker, lag_probe: LagProbe) -> None:
    state, retry = worker.state, worker.pipeline.retry

    @app.page("/progress")
    async def progress_page(web: Any, request: Any) -> Any:
        return web.json(state.progress.snapshot())

    @app.page("/status")
    async def status_page(web: Any, request: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            recent = await loop.run_in_executor(None, lambda: latest_alerts(parts.warehouse))
        except UsageflowError:
            recent = list(state.recent_alerts)
        return web.json(
            {
                **state.progress.snapshot(),
                "lag": lag_probe.lag,
                "events_per_s": round(lag_probe.rate, 1),
                "warehouse": parts.warehouse.target.describe(),
                "warehouse_failing_since": retry.failing_since,
                "recent_alerts": recent,
            }
        )

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(state.metrics.render(), content_type="text/plain; version=0.0.4")

    @app.page("/health")
    async def health_page(web: Any, request: Any) -> Any:
        failing = retry.failing_since
        healthy = not (failing and time.time() - failing > 30)
        body = {"status": "ok" if healthy else "warehouse_unavailable", **state.progress.snapshot()}
        return web.json(body, status=200 if healthy else 503)

    @app.page("/usage/{account_id}")
    async def usage_page(web: Any, request: Any, account_id: str) -> Any:
        window = GRANULARITIES.get(request.query.get("window", "day"))
        if window is None:
            return web.json({"error": "window must be minute, hour or day"}, status=400)
        loop = asyncio.get_running_loop()
        rows = await loop.run_in_executor(None, lambda: recent_windows(parts.warehouse, account_id, window))
        body = {"account_id": account_id, "window": window, "windows": rows, "totals": parts.engine.totals(account_id)}
        return web.json(body)

    @app.page("/rerate")
    async def rerate_page(web: Any, request: Any) -> Any:
        """`usageflow rerate` while this worker owns the warehouse: runs on the pipeline's
        thread, between two batches (usageflow.streams.rerate)."""
        from usageflow.streams.rerate import rerate_in_worker

        month, account = request.query.get("month", ""), request.query.get("account") or None
        loop = asyncio.get_running_loop()
        try:
            report = await loop.run_in_executor(
                worker.pipeline_thread,
                lambda: rerate_in_worker(worker.pipeline, parts.paths.price_book, month, account),
            )
        except UsageflowError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return web.json({"error": first}, status=400)
        return web.json(report.to_json())

    @app.page("/api/{name}")
    async def api_page(web: Any, request: Any, name: str) -> Any:
        from usageflow.billing.access import QUERIES

        query = QUERIES.get(name)
        if query is None:
            return web.json({"error": f"no query named {name!r}"}, status=404)
        params = dict(request.query.items())
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(None, lambda: query(parts.warehouse, **params))
        except (UsageflowError, TypeError, ValueError, ArithmeticError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return web.json({"error": first}, status=400)
        return web.json(result)

    _ = (progress_page, status_page, metrics_page, health_page, usage_page, rerate_page, api_page)

    from usageflow.streams.http_writes import register_writes

    register_writes(app, parts, worker)
