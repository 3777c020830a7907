"""`make bench` (`python -m benchmarks`): throughput, alert latency and query latency of the real system.

One concern per module: `stats` (pure math), `workload` (accounts and events), `machine`,
`config` (what a run is asked to do, the result's keys), `runner` (broker, publishing, the
order of parts, cleanup), `phases` (each part's measurement), `raw` (confluent-kafka
baseline), `worker` (the real worker as a subprocess), `alerts` (alert latency under load),
`peer` (the same job on Quix Streams), `queries` (billing reads), `hotpath` (cProfile of the
worker's batch path), `spy` (py-spy of the running worker), `child` (running a part in its own
process) and `report` (the table). Parts that open chDB run in their own process: chDB allows
one path per process.
"""

from __future__ import annotations

from usageflow.errors import UsageflowError

ALL_PARTS = ("raw", "pipeline", "peer", "alerts", "queries", "profile")
DEFAULT_PARTS = ("raw", "pipeline", "peer", "alerts", "queries")


class BenchError(UsageflowError):
    """A benchmark part could not run (missing tool, broker, worker died, bad option)."""
