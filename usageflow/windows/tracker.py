"""The windows one worker keeps, batch by batch (pure: no Kafka, no warehouse).

The invariant the tracker keeps: every window it holds carries the totals of *all* stored events
of that window. A window enters it in one of three ways, and only these:

* it cannot have stored events yet (it starts after the newest event time stored for the
  account when the tracker learnt it), so the batch's stored events are all of them;
* the warehouse said what it holds (`absorb`): windows the tracker does not hold and that may
  have stored events are *asked for*, never guessed;
* `restore`: the windows the warehouse records as still open, re-aggregated from the events.

Each batch: `apply` adds the events the batch stored and names the windows to load (and the
windows of events the warehouse already held, which a crash may have left behind); the caller
loads them and calls `absorb`; `outgoing` then says which windows to publish (their end has
passed the newest event time of their partition and they changed since their last revision)
and which open windows to record as such; after the caller wrote them, `written` takes note.
The batch arrives aggregated per window (usageflow.windows.batch); a window new in it that is
already past its retention is published from the batch's columns and never held, as a held one
would have been evicted at once.

An open window's row is what a restart starts from only in part: it registers the window as
open, and its totals are re-aggregated from the stored events then. So only its first row is
written at once; after that its row is rewritten at most every `open_row_every_ms` (wall clock,
the caller's `now_ms`), and when it falls due it is rewritten even if no event touched it since.
Writing every change would rewrite about one row per event under a steady load.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from usageflow.pricing.rating import RatedEvent
from usageflow.windows.batch import BatchWindows, aggregate, event_table
from usageflow.windows.slots import (
    HOUR_MS,
    MINUTE_MS,
    WindowKey,
    to_ms,
    window_end_ms,
    window_keys,
)
from usageflow.windows.totals import EMPTY, Frozen, plus

# How long (in event time past its end) a published window stays in memory for a late event to
# update it without asking the warehouse.
RETAIN_MS = {"1m": 5 * MINUTE_MS, "1h": HOUR_MS, "1d": 24 * HOUR_MS}


@dataclass(slots=True, eq=False)
class Window:
    key: WindowKey
    end_ms: int
    totals: Frozen
    partition: int | None = None
    revision: int = 0  # highest revision published and stored (0: none)
    emitted: Frozen | None = None  # the totals of that revision
    written: Frozen | None = None  # what the warehouse row of this window holds now
    queued: bool = False  # in its partition's close queue
    pending: Frozen | None = None  # the totals `outgoing` chose to write (until `written`)
    row_due_ms: int = 0  # when its open row may be rewritten (the caller's clock)

    def needs_revision(self, now: Frozen | None = None) -> bool:
        """Closed and not (or no longer) what its last revision said."""
        now = now if now is not None else self.totals
        if self.emitted is None:
            return now.requests > 0 or self.written is not None
        return now != self.emitted

    def needs_open_row(self, now: Frozen | None = None) -> bool:
        """Open and the warehouse's row (if any) says something else."""
        now = now if now is not None else self.totals
        return now != self.written and (self.written is not None or now.requests > 0)


@dataclass(frozen=True, slots=True)
class Held:
    """What the warehouse holds for one window."""

    totals: Frozen = EMPTY  # the aggregate of its stored events
    revision: int = 0  # its highest stored revision (0: none, or only an open row)
    revised: Frozen | None = None  # the totals of that revision
    row: Frozen | None = None  # the totals of its current row (a revision or an open row)
    partition: int | None = None  # the partition the row came from


@dataclass(frozen=True)
class Snapshot:
    """What `restore` starts from, read from the warehouse after the batch in hand was stored."""

    newest_ms: Mapping[str, int]  # account -> newest stored event time
    open_windows: Mapping[WindowKey, Held]  # windows recorded as open, re-aggregated
    # partition -> the newest stored event time of the accounts whose windows came from it: the
    # earlier life read those events there, so its clock was at least this far
    watermark: Mapping[int, int] = field(default_factory=dict)


@dataclass
class Outgoing:
    revisions: list[Window] = field(default_factory=list)  # publish with revision + 1
    open_rows: list[Window] = field(default_factory=list)  # record as open (revision 0)
    settled: list[Window] = field(default_factory=list)  # closed and as published: nothing to send
    batch: BatchWindows | None = None  # the batch's windows, of which `batch_rows` are published
    batch_rows: list[int] = field(default_factory=list)  # new windows, published at revision 1, not held


class WindowTracker:
    def __init__(self, retain_ms: Mapping[str, int] = RETAIN_MS, open_row_every_ms: int = 0) -> None:
        self.retain_ms = dict(retain_ms)
        self.open_row_every_ms = open_row_every_ms  # 0: every change of an open window is written
        self.windows: dict[WindowKey, Window] = {}
        self.watermark: dict[int, int] = {}  # partition -> newest event time read there
        self.newest: dict[str, int] = {}  # account -> newest stored event time known
        self.restored = False
        self._closing: dict[int, list[tuple[int, int, WindowKey]]] = {}
        self._evicting: dict[int, list[tuple[int, int, WindowKey]]] = {}
        self._touched: dict[WindowKey, Window] = {}
        self._seq = itertools.count()
        self._after_restore = False
        self._new: tuple[BatchWindows | None, list[int]] = (None, [])
        self._due: deque[tuple[int, WindowKey]] = deque()  # (row_due_ms, key) of open rows written
        self._now_ms = 0

    # --- life cycle -----------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything (partitions moved, or a step failed half-way): the next batch
        restores from the warehouse."""
        self.windows.clear()
        self.watermark.clear()
        self.newest.clear()
        self._closing.clear()
        self._evicting.clear()
        self._touched.clear()
        self._new = (None, [])
        self._due.clear()
        self.restored = False
        self._after_restore = False

    def restore(self, snapshot: Snapshot) -> None:
        """Start from the warehouse. The snapshot was taken after this batch's insert, so this
        batch's windows are all loaded (not added to) by the `apply` that follows."""
        self.reset()
        self.newest = dict(snapshot.newest_ms)
        self.watermark = dict(snapshot.watermark)
        for key, held in snapshot.open_windows.items():
            self._touch(self._take(key, held, held.partition))
        self.restored = True
        self._after_restore = True

    # --- a batch ----------------------------------------------------------------------------

    def apply(
        self, stored: Sequence[tuple[int, RatedEvent]], held_before: Iterable[tuple[int, RatedEvent]]
    ) -> dict[WindowKey, int]:
        """`stored`: (partition, event) of the events this batch stored; `held_before`: those the
        warehouse already held (duplicates, or a batch read again after a crash). Returns the
        windows to load from the warehouse, with the partition each was read from."""
        batch = aggregate(event_table(stored)) if stored else None
        return self.apply_windows(batch, held_before)

    def apply_windows(
        self, batch: BatchWindows | None, held_before: Iterable[tuple[int, RatedEvent]]
    ) -> dict[WindowKey, int]:
        """`apply` with the stored events already aggregated per window (usageflow.windows.batch).

        Per window of the batch: a held window adds the batch's totals and moves to the
        partition of its last event; one that may have stored events (it starts at or before the
        newest stored event time of the account) is loaded instead, from the partition of its
        first event, with all of this batch's events in it, since the warehouse has them; any
        other is new, its totals the batch's. New windows get no object yet: `outgoing` publishes
        the closed ones straight from the batch's columns."""
        windows, touched, marks, known = self.windows, self._touched, self.watermark, self.newest
        after_restore = self._after_restore
        load: dict[WindowKey, int] = {}
        new: list[int] = []
        if batch is not None:
            for partition, ts in batch.watermarks.items():
                if ts > marks.get(partition, -1):
                    marks[partition] = ts
            added: list[tuple[Window, int]] = []
            last = batch.last_partition
            for i, key in enumerate(batch.keys):
                window = windows.get(key)  # type: ignore[call-overload]
                if window is not None:
                    if not after_restore:  # a restored window already counts this batch
                        added.append((window, i))
                    if window.partition != last[i]:
                        self._place(window, last[i])
                    touched[window.key] = window
                elif after_restore or key[4] <= known.get(key[0], -1):
                    load[WindowKey._make(key)] = batch.first_partition[i]
                else:
                    new.append(i)
            if added:
                for (window, _i), totals in zip(added, batch.totals([i for _w, i in added]), strict=True):
                    window.totals = plus(window.totals, totals)
            for account_id, ts in batch.newest.items():
                if ts > known.get(account_id, -1):
                    known[account_id] = ts
        held_before = list(held_before)
        if held_before and new and batch is not None:
            # A window new in this batch that an already stored event falls in too cannot occur
            # (such a window starts before the account's newest stored event and is loaded);
            # were it to, it is held as an object, so the loop below finds it.
            before = {
                key
                for _p, r in held_before
                for key in window_keys(
                    r.event.account_id,
                    r.event.api_key_id,
                    r.event.model,
                    to_ms(r.event.ts),
                    r.billing_tz,
                    r.billing_date,
                )
            }
            keys = batch.keys
            self._materialise(batch, [i for i in new if keys[i] in before])
            new = [i for i in new if keys[i] not in before]
        self._new = (batch, new)
        for partition, rated in held_before:
            e = rated.event
            ts = to_ms(e.ts)
            self._advance(partition, ts)
            for key in window_keys(e.account_id, e.api_key_id, e.model, ts, rated.billing_tz, rated.billing_date):
                window = windows.get(key)
                if window is not None:
                    self._place(window, partition)
                elif key not in load:
                    load[key] = partition
        self._after_restore = False
        return load

    def absorb(self, loaded: Mapping[WindowKey, Held], partitions: Mapping[WindowKey, int | None]) -> None:
        """The warehouse's answer for the windows `apply` or `reload` named (a window it has no
        events and no row for is absent from `loaded`)."""
        for key, partition in partitions.items():
            window = self._take(key, loaded.get(key, Held()), partition)
            self._touch(window)

    def reload(self, account_id: str, start_ms: int, end_ms: int) -> dict[WindowKey, int | None]:
        """The windows held for `account_id` ("": every account) that overlap [start_ms, end_ms):
        to load again (their stored events were changed by someone else, e.g. re-priced)."""
        return {
            key: w.partition
            for key, w in self.windows.items()
            if account_id in ("", key.account_id) and key.start_ms < end_ms and w.end_ms > start_ms
        }

    def outgoing(self, now_ms: int = 0) -> Outgoing:
        """Closed windows that need a revision, and open windows whose warehouse row is behind
        (a first row at once, a rewrite once due at `now_ms`). Open windows wait in their
        partition's close queue (by end) until their end passes.

        A window new in this batch whose end, and retention after it, have passed its
        partition's event time is published at revision 1 from the batch's columns
        (`Outgoing.batch_rows`) and never held: a later event for it loads it again."""
        out = Outgoing()
        self._now_ms = now_ms
        batch, new = self._new
        self._new = (None, [])
        if batch is not None and new:
            marks, ends, last, grans = self.watermark, batch.end_ms, batch.last_partition, batch.granularity
            keep = []
            for i in new:
                mark = marks.get(last[i])
                if mark is not None and ends[i] + self.retain_ms[grans[i]] <= mark:
                    out.batch_rows.append(i)
                else:
                    keep.append(i)
            self._materialise(batch, keep)
            out.batch = batch
        chosen: set[WindowKey] = set()
        for partition, queue in self._closing.items():
            mark = self.watermark.get(partition)
            if mark is None:
                continue
            while queue and queue[0][0] <= mark:
                _end, _seq, key = heapq.heappop(queue)
                window = self.windows.get(key)
                if window is None or window.partition != partition:
                    continue
                window.queued = False
                if key not in self._touched:  # (a touched one is looked at below)
                    chosen.add(key)
                    self._choose(window, out)
        due = self._due
        while due and due[0][0] <= now_ms:
            at, key = due.popleft()
            window = self.windows.get(key)
            if window is None or window.row_due_ms != at or key in chosen or key in self._touched:
                continue  # gone, rewritten since, or looked at below
            self._choose_open_row_if_behind(window, out)
        for key, window in self._touched.items():
            if key in chosen or window.partition is None:
                continue
            if self._closed(window):
                self._choose(window, out)
            else:
                now = window.totals
                if window.needs_open_row(now) and (window.written is None or window.row_due_ms <= now_ms):
                    window.pending = now
                    out.open_rows.append(window)
                if not window.queued:
                    self._queue(window)
        self._touched.clear()
        return out

    def behind_open_rows(self) -> Outgoing:
        """Every held open window whose row is behind, due or not (a worker stopping writes
        them, so the rows it leaves are current)."""
        out = Outgoing()
        for window in self.windows.values():
            self._choose_open_row_if_behind(window, out)
        return out

    def _choose_open_row_if_behind(self, window: Window, out: Outgoing) -> None:
        """An open window of a partition held here whose row is behind its totals: write it."""
        if window.partition is not None and not self._closed(window) and window.needs_open_row():
            window.pending = window.totals
            out.open_rows.append(window)

    def _choose(self, window: Window, out: Outgoing) -> None:
        now = window.totals
        if window.needs_revision(now):
            window.pending = now
            out.revisions.append(window)
        else:
            out.settled.append(window)

    def written(self, out: Outgoing) -> None:
        """`out` is published and stored: its revisions are now the highest."""
        for window in out.revisions:
            window.revision += 1
            window.emitted = window.written = window.pending
            window.pending = None
            self._retire(window)
        every = self.open_row_every_ms
        for window in out.open_rows:
            window.written = window.pending
            window.pending = None
            if every > 0:
                window.row_due_ms = self._now_ms + every
                self._due.append((window.row_due_ms, window.key))
        for window in out.settled:
            self._retire(window)
        self._evict()

    # --- helpers ----------------------------------------------------------------------------

    def _advance(self, partition: int, ts: int) -> None:
        if ts > self.watermark.get(partition, -1):
            self.watermark[partition] = ts

    def _closed(self, window: Window) -> bool:
        """Its end has passed its partition's event time; or it was published already (by this
        life or an earlier one, whose clock may have been ahead): a change is a new revision."""
        if window.revision > 0:
            return True
        mark = self.watermark.get(window.partition) if window.partition is not None else None
        return mark is not None and window.end_ms <= mark

    def _take(self, key: WindowKey, held: Held, partition: int | None) -> Window:
        window = Window(
            key=key,
            end_ms=window_end_ms(key),
            totals=held.totals,
            revision=held.revision,
            emitted=held.revised,
            written=held.row,
        )
        self.windows[key] = window
        self._place(window, partition)
        return window

    def _materialise(self, batch: BatchWindows, rows: Sequence[int]) -> None:
        """Objects for the batch's new windows at `rows`, held and touched from now on."""
        if not rows:
            return
        keys = batch.keys
        for i, totals in zip(rows, batch.totals(rows), strict=True):
            key = WindowKey._make(keys[i])
            window = self.windows[key] = Window(key, batch.end_ms[i], totals, batch.last_partition[i])
            self._touched[key] = window

    def _place(self, window: Window, partition: int | None) -> None:
        """Its events come from `partition` (None: unknown yet); a move is looked at again."""
        if partition is None or window.partition == partition:
            return
        window.partition = partition
        window.queued = False
        self._touch(window)

    def _queue(self, window: Window) -> None:
        assert window.partition is not None
        heapq.heappush(self._closing.setdefault(window.partition, []), (window.end_ms, next(self._seq), window.key))
        window.queued = True

    def _touch(self, window: Window) -> None:
        self._touched[window.key] = window

    def _retire(self, window: Window) -> None:
        if window.partition is None:
            return
        at = window.end_ms + self.retain_ms[window.key.granularity]
        if at <= self.watermark.get(window.partition, -1):
            if self.windows.get(window.key) is window:
                del self.windows[window.key]  # already far behind its partition's event time
            return
        heapq.heappush(self._evicting.setdefault(window.partition, []), (at, next(self._seq), window.key))

    def _evict(self) -> None:
        """Published windows far enough behind their partition's event time leave memory (a
        later event for one of them loads it from the warehouse again)."""
        for partition, queue in self._evicting.items():
            mark = self.watermark.get(partition, -1)
            while queue and queue[0][0] <= mark:
                _at, _seq, key = heapq.heappop(queue)
                window = self.windows.get(key)
                if (
                    window is not None
                    and window.partition == partition
                    and not window.needs_revision()
                    and window.end_ms + self.retain_ms[key.granularity] <= mark
                ):
                    del self.windows[key]

    def held_windows(self) -> Sequence[Window]:
        return list(self.windows.values())
