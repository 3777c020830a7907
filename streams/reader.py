"""The loop between the batch source and the rating agent: read, hand over, wait, commit.

The batch itself is sequenced by `BatchPipeline.process` (run by the agent); this loop only
moves records in and offsets out, and tells the pipeline when partitions moved.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from usageflow.ingest.batch import RawRecord
from usageflow.streams.exits import exit_worker
from usageflow.streams.pipeline import BatchPipeline, BatchReport
from usageflow.streams.progress import WorkerState
from usageflow.streams.retry import StopRequested
from usageflow.streams.source import BatchSource

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class EventBatch:
    """One agent message: records of the events topic, and the future the agent resolves with
    the batch's report once it is stored, dead-lettered and alerted."""

    records: list[RawRecord]
    done: asyncio.Future[BatchReport]


class EventReader:
    def __init__(
        self,
        source: BatchSource,
        channel: Any,
        pipeline: BatchPipeline,
        state: WorkerState,
        stop: threading.Event,
        grace_s: float = 60.0,
    ) -> None:
        self.source = source
        self.channel = channel
        self.pipeline = pipeline
        self.state = state
        self.stop = stop
        self.grace_s = grace_s
        self._running = False
        self._finished: asyncio.Event | None = None

    async def run(self) -> None:
        """The app task: until shutdown, one batch at a time."""
        self._finished = asyncio.Event()
        self._running = True
        loop = asyncio.get_running_loop()
        try:
            await self._call(self.source.open)
            while not self.stop.is_set():
                records = await self._call(self.source.poll)
                if self.source.take_reassigned():
                    self.pipeline.partitions_changed()
                if self.stop.is_set():
                    break  # at shutdown an unprocessed batch is simply not committed
                if not records:
                    await self._call(self.pipeline.between_batches)
                    continue
                batch = EventBatch(records, loop.create_future())
                await self.channel.send(value=batch)
                report = await batch.done
                self.state.observe(report)
                await self._call(self.source.commit, report.next_offsets)
            await self._call(self.pipeline.stopping)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            exit_worker(exc, "a batch could not be stored")
        finally:
            try:
                await self._call(self.source.close)
            finally:
                self._finished.set()

    async def on_shutdown(self, sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        """Before Faust stops the agent (its children stop after this signal): finish the batch in
        hand (store, alert, commit), so the agent is never cancelled in the middle of one."""
        self.stop.set()
        if not self._running or self._finished is None:
            return
        try:
            await asyncio.wait_for(self._finished.wait(), timeout=self.grace_s)
        except TimeoutError:
            exit_worker(StopRequested(f"batch not stored within {self.grace_s:.0f}s of shutdown"), "shutting down")

    async def _call(self, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.source.thread, work, *args)
