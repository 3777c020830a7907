"""The loop between the batch source and the rating agent: read, hand over, wait, commit."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from usageflow.streams.sink import EX_TEMPFAIL
from usageflow.streams.source import BatchSource

from usageflow.alerting.engine import LiveEngine
from usageflow.alerting.rules import AlertKey
from usageflow.ingest.batch import RawRecord, next_offsets

log = logging.getLogger(__name__)
T = TypeVar("T")
EX_SOFTWARE = 70


@dataclass
class EventBatch:
    """One agent message: records of the events topic, and the future the agent resolves once
    they are stored, dead-lettered and alerted (only then are their offsets committed)."""

    records: list[RawRecord]
    done: asyncio.Future[None]


class EventReader:
    def __init__(
        self,
        source: BatchSource,
        channel: Any,
        engine: LiveEngine,
        sync_published: Callable[[], list[AlertKey]],
        grace_s: float = 60.0,
    ) -> None:
        self.source = source
        self.channel = channel
        self.engine = engine
        self.sync_published = sync_published
        self.grace_s = grace_s
        self._stop = False
        self._running = False
        self._finished: asyncio.Event | None = None

    async def run(self) -> None:
        """The app task: until shutdown, one batch at a time."""
        self._finished = asyncio.Event()
        self._running = True
        loop = asyncio.get_running_loop()
        try:
            await self._call(self.source.open)
            while not self._stop:
                records = await self._call(self.source.poll)
                if self.source.take_reassigned():
                    await self._reassigned()
                if not records or self._stop:
                    continue  # at shutdown an unprocessed batch is simply not committed
                batch = EventBatch(records, loop.create_future())
                await self.channel.send(value=batch)
                try:
                    await batch.done
                except BaseException:
                    if self._stop:
                        raise  # stopping: the batch is simply not committed
                    # Nothing past the stored batches is committed: a restart carries on from there.
                    log.exception("the rating agent failed on a batch; exiting so the worker can be restarted")
                    os._exit(EX_SOFTWARE)
                await self._call(self.source.commit, next_offsets(records))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the events reader failed; exiting so the worker can be restarted")
            os._exit(EX_SOFTWARE)
        finally:
            try:
                await self._call(self.source.close)
            finally:
                self._finished.set()

    async def on_shutdown(self, sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        """Before Faust stops the agent (its children stop after this signal): finish the batch in
        hand (store, alert, commit), so the agent is never cancelled in the middle of one."""
        self._stop = True
        if not self._running or self._finished is None:
            return
        try:
            await asyncio.wait_for(self._finished.wait(), timeout=self.grace_s)
        except TimeoutError:
            # Still not stored (warehouse down): exit without committing it.
            log.error("batch not stored within %.0fs of shutdown: exiting uncommitted", self.grace_s)
            os._exit(EX_TEMPFAIL)

    async def _reassigned(self) -> None:
        """At the first assignment and after every rebalance: another worker may have moved
        accounts on, and sent alerts it did not get to record in the warehouse before it died.
        So the alerts topic is read again and the live state restored from the warehouse
        before the next batch."""
        self.engine.reset()
        delay = 0.5
        while True:
            try:
                keys = await asyncio.get_running_loop().run_in_executor(None, self.sync_published)
                break
            except Exception as exc:  # broker or warehouse away: nothing is safe to process yet
                log.warning("reading published alerts failed, retrying in %.1fs: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        self.engine.mark_fired(keys)
        log.info("partitions assigned: live alert state will be restored from the warehouse")

    async def _call(self, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.source.thread, work, *args)
