"""The pipeline's windows step (`BatchPipeline.process`, after the batch's events are stored):
the stored events move their windows, windows whose end passed their partition's event time are
published on the windows topic (acknowledged) and stored in `window_aggregates`, and open
windows the batch changed are recorded as open: a window's first open row at once, later ones
at most every `open_row_interval_s` (also between batches, `write_due_open_rows`, and all that
are behind when the worker stops, `write_behind_open_rows`).

Crash safety comes from where each number is taken:

* the events of a batch are stored before this step runs, and offsets are committed only after
  it: a worker that dies in between reads the batch again, finds its events stored (not fresh)
  and asks the warehouse for every window they touch that it does not hold (`WindowTracker.apply`),
  so a revision lost to the crash is published then, with the full totals of the stored events;
* a (re)started worker restores the windows recorded as open, re-aggregated from the stored
  events, and learns each account's newest stored event time: only a window starting after it
  is known to have no stored events; any other window it does not hold is loaded, never guessed;
* a window's records go to Kafka before the warehouse: a crash in between publishes the same
  revision again (same totals) on the re-read; a consumer keeps the highest revision, the later
  record on a tie, as compaction and the ReplacingMergeTree do.

Someone changing stored events behind the stream (`usageflow rerate`) records a notice
(usageflow.windows.recompute); the step checks for new ones every few seconds and reloads the
windows it holds for that account and range.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pyarrow as pa

from usageflow.ingest.batch import BatchOutcome
from usageflow.streams.outbox import KafkaOutbox
from usageflow.streams.retry import RetryPolicy
from usageflow.warehouse import Warehouse
from usageflow.windows import store
from usageflow.windows.batch import aggregate, event_table, events_of_rated
from usageflow.windows.recompute import Recomputed, month_range, recompute_windows
from usageflow.windows.records import WindowRow, batch_table, rows_table, table_records
from usageflow.windows.slots import WindowKey, to_ms
from usageflow.windows.tracker import Outgoing, Window, WindowTracker

log = logging.getLogger(__name__)
NOTICE_POLL_S = 2.0


class WindowStep:
    def __init__(
        self,
        warehouse: Warehouse,
        outbox: KafkaOutbox,
        topic: str,
        retry: RetryPolicy,
        after_step: Callable[[str], None] = lambda _step: None,
        open_row_interval_s: float = 0.0,
    ) -> None:
        self.warehouse = warehouse
        self.after_step = after_step  # called with "windows_published" (see BatchPipeline)
        self.outbox = outbox
        self.topic = topic
        self.retry = retry.call
        self.tracker = WindowTracker(open_row_every_ms=round(open_row_interval_s * 1000))
        self._notices_from = 0  # epoch ms: notices recorded from then on are read
        self._seen_notices: dict[str, int] = {}  # notice id -> when recorded (those at _notices_from)
        self._next_poll = 0.0

    def reset(self) -> None:
        """Partitions moved (or stored events were re-priced): restore from the warehouse with
        the next batch."""
        self.tracker.reset()

    def recompute(self, account_id: str | None, start: datetime, end: datetime) -> Recomputed:
        """After stored events of [start, end) changed under this worker (`usageflow rerate` run
        between two batches): publish the revisions the stored events now call for, and restore
        the windows held in memory from the warehouse with the next batch."""
        try:
            return recompute_windows(
                self.warehouse,
                lambda records: self.outbox.send_keyed_and_wait(self.topic, list(records)),
                account_id,
                start,
                end,
            )
        finally:
            self.tracker.reset()

    def recompute_month(self, month: str, account_id: str | None = None) -> Recomputed:
        """`recompute` over everything a re-pricing of billing month `month` can change."""
        return self.recompute(account_id, *month_range(month))

    def run(
        self, outcome: BatchOutcome, fresh: Sequence[int], refused: Sequence[int], table: pa.Table | None = None
    ) -> int:
        """The batch's windows; returns how many revisions were published. On any failure the
        tracker is reset (the next batch restores), so a half-applied batch is never reused."""
        try:
            return self._run(outcome, fresh, refused, table)
        except BaseException:
            self.tracker.reset()
            raise

    def _run(self, outcome: BatchOutcome, fresh: Sequence[int], refused: Sequence[int], table: pa.Table | None) -> int:
        """`table`: the insert's Arrow table of the fresh events (in `fresh` order), if built."""
        tracker = self.tracker
        if not tracker.restored:
            # The notice mark first: a recompute between the two reads is then seen again (and
            # costs a reload), never missed.
            self._notices_from = self.retry("reading recompute notices", lambda: store.latest_notice(self.warehouse))
            self._seen_notices.clear()
            tracker.restore(self.retry("restoring the windows", lambda: store.snapshot(self.warehouse)))
        not_stored = set(refused)
        is_fresh = set(fresh)
        sources = outcome.sources
        held_before = [(sources[i].partition, r) for i, r in enumerate(outcome.rated) if i not in is_fresh]
        if table is not None:
            events = events_of_rated(table, [sources[i].partition for i in fresh], [i not in not_stored for i in fresh])
        else:
            stored = [(sources[i].partition, outcome.rated[i]) for i in fresh if i not in not_stored]
            events = event_table(stored) if stored else None
        batch = aggregate(events) if events is not None and events.num_rows else None
        load: dict[WindowKey, int | None] = dict(tracker.apply_windows(batch, held_before))
        load.update(self._reloads())
        if load:
            held = self.retry("loading windows", lambda: store.held(self.warehouse, load))
            tracker.absorb(held, load)
        out = tracker.outgoing(_clock_ms())
        if out.revisions or out.open_rows or out.batch_rows:
            self._write(out)
        tracker.written(out)
        return len(out.revisions) + len(out.batch_rows)

    def write_due_open_rows(self) -> int:
        """Between batches (no events for a while): rewrite the open rows that fell due, so a
        quiet account's open windows do not stay behind. Returns how many were written."""
        if not self.tracker.restored:
            return 0
        return self._write_open_rows(self.tracker.outgoing(_clock_ms()))

    def write_behind_open_rows(self) -> int:
        """A stopping worker's last word: every open row that is behind, due or not."""
        if not self.tracker.restored:
            return 0
        return self._write_open_rows(self.tracker.behind_open_rows())

    def _write_open_rows(self, out: Outgoing) -> int:
        """`out` of a call with no batch applied: it can only hold open rows, or revisions of
        windows a partition's clock closed, which the next batch publishes."""
        try:
            if out.revisions or out.batch_rows:
                self.tracker.reset()  # not expected; the next batch restores and publishes them
                return 0
            if out.open_rows:
                stamp = to_ms(datetime.now(UTC))
                rows = rows_table([_row(w, 0, stamp) for w in out.open_rows])
                self.retry("storing open windows", lambda: store.insert_table(self.warehouse, rows))
            self.tracker.written(out)
            return len(out.open_rows)
        except BaseException:
            self.tracker.reset()
            raise

    def _write(self, out: Outgoing) -> None:
        """Publish the revisions (acknowledged), then store them with the open rows."""
        stamp = to_ms(datetime.now(UTC))
        revisions = [rows_table([_row(w, w.revision + 1, stamp) for w in out.revisions])]
        if out.batch is not None and out.batch_rows:
            revisions.append(batch_table(out.batch, out.batch_rows, 1, stamp))
        published = pa.concat_tables(revisions)
        if published.num_rows:
            self.outbox.send_keyed_and_wait(self.topic, table_records(published))
        self.after_step("windows_published")
        rows = pa.concat_tables([published, rows_table([_row(w, 0, stamp) for w in out.open_rows])])
        self.retry("storing windows", lambda: store.insert_table(self.warehouse, rows))

    def _reloads(self) -> dict[WindowKey, int | None]:
        """Windows to load again because a recompute notice covers them (checked at most every
        NOTICE_POLL_S seconds)."""
        if time.monotonic() < self._next_poll:
            return {}
        self._next_poll = time.monotonic() + NOTICE_POLL_S
        notices = self.retry(
            "reading recompute notices", lambda: store.notices_since(self.warehouse, self._notices_from)
        )
        reload: dict[WindowKey, int | None] = {}
        for notice in notices:
            if notice["notice_id"] in self._seen_notices:
                continue
            self._seen_notices[notice["notice_id"]] = int(notice["at"])
            self._notices_from = max(self._notices_from, int(notice["at"]))
            reload.update(self.tracker.reload(notice["account_id"], int(notice["start_ms"]), int(notice["end_ms"])))
        self._seen_notices = {k: at for k, at in self._seen_notices.items() if at >= self._notices_from}
        if reload:
            log.info("reloading %d window(s) after a recompute", len(reload))
        return reload


def _clock_ms() -> int:
    return int(time.monotonic() * 1000)


def _row(window: Window, revision: int, stamp: int) -> WindowRow:
    assert window.partition is not None and window.pending is not None
    return WindowRow(window.key, window.end_ms, window.pending, revision, stamp, window.partition)
