"""Tumbling windows per (account_id, api_key_id, model) (events.md "Windowed aggregates").

Granularities: `1m` and `1h` aligned to the Unix epoch in UTC, `1d` aligned to the account's
local day (23 h or 25 h on DST days). Each window counts requests, input, output and total
tokens and the (unrounded) list cost.

Life of a window in `WindowAggregator`:

* `add(event)` creates / updates the 1m, 1h and 1d windows of the event and marks them dirty.
* `drain_closed(watermark)` returns every dirty window whose end <= watermark as a
  `WindowRow` with the window's *full* counters (replace semantics, not deltas) and a
  `revision` (1 on the first emission, +1 each time a late-but-allowed event changed a
  window that had already been emitted): a warehouse rollup keyed on
  (granularity, account, key, model, window_start) keeps the row with the highest revision
  (e.g. ReplacingMergeTree(revision)). Replaying the same state gives the same rows.
* Windows whose end <= watermark − allowed lateness are dropped after being drained, so
  memory is bounded by the lateness horizon. An event that would fall into a dropped window
  is refused by `add` (returns False): it is late, it only goes to the warehouse.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, NamedTuple, cast

from usageflow.alerting.events import LiveEvent, as_live
from usageflow.alerting.periods import day_bounds_us, from_us, to_us
from usageflow.pricing.rating import RatedEvent

Granularity = Literal["1m", "1h", "1d"]
GRANULARITIES: tuple[Granularity, ...] = ("1m", "1h", "1d")
DEFAULT_ALLOWED_LATENESS = timedelta(hours=48)
_FIXED_US = {"1m": 60_000_000, "1h": 3_600_000_000}
_ORDER = {g: i for i, g in enumerate(GRANULARITIES)}


def is_late(ts: datetime, newest_seen_ts: datetime | None, allowed: timedelta = DEFAULT_ALLOWED_LATENESS) -> bool:
    """True when `ts` is more than `allowed` behind the newest event time seen (in the
    partition). Exactly `allowed` behind is not late; nothing is late before any event."""
    if newest_seen_ts is None:
        return False
    return newest_seen_ts - ts > allowed


def window_bounds_us(ts: datetime, granularity: Granularity, tz: str) -> tuple[int, int]:
    """[start, end) in epoch microseconds of the window of `ts`."""
    if granularity == "1d":
        return day_bounds_us(ts, tz)
    size = _FIXED_US[granularity]
    start = to_us(ts) // size * size
    return start, start + size


def window_bounds(ts: datetime, granularity: Granularity, tz: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the window of `ts` (`tz` only matters for `1d`)."""
    start, end = window_bounds_us(ts, granularity, tz)
    return from_us(start), from_us(end)


class WindowKey(NamedTuple):
    granularity: Granularity
    account_id: str
    api_key_id: str
    model: str
    start_us: int
    end_us: int


@dataclass(frozen=True, slots=True)
class WindowRow:
    """One window's counters, for the warehouse rollup (closed) or the HTTP API (live)."""

    granularity: Granularity
    window_start: datetime  # UTC, inclusive
    window_end: datetime  # UTC, exclusive
    account_id: str
    api_key_id: str
    model: str
    requests: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    list_cost: Decimal  # unrounded
    revision: int  # emissions so far (0 = never drained yet)

    def to_json(self) -> dict[str, Any]:
        return {
            "granularity": self.granularity,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "account_id": self.account_id,
            "api_key_id": self.api_key_id,
            "model": self.model,
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
            "list_cost": str(self.list_cost),
            "revision": self.revision,
        }


class _Counters:
    __slots__ = ("dirty", "input_tokens", "list_cost", "output_tokens", "requests", "revision")

    def __init__(self) -> None:
        self.requests = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.list_cost = Decimal(0)
        self.revision = 0
        self.dirty = False


def _row(key: WindowKey, c: _Counters) -> WindowRow:
    return WindowRow(
        granularity=key.granularity,
        window_start=from_us(key.start_us),
        window_end=from_us(key.end_us),
        account_id=key.account_id,
        api_key_id=key.api_key_id,
        model=key.model,
        requests=c.requests,
        input_tokens=c.input_tokens,
        output_tokens=c.output_tokens,
        total_tokens=c.input_tokens + c.output_tokens,
        list_cost=c.list_cost,
        revision=c.revision,
    )


def _sort_key(row: WindowRow) -> tuple[datetime, int, str, str, str, datetime]:
    return (
        row.window_end,
        _ORDER[row.granularity],
        row.account_id,
        row.api_key_id,
        row.model,
        row.window_start,
    )


class WindowAggregator:
    """Tumbling 1m / 1h / 1d windows with bounded memory. Not thread-safe."""

    def __init__(
        self,
        granularities: Iterable[Granularity] = GRANULARITIES,
        allowed_lateness: timedelta = DEFAULT_ALLOWED_LATENESS,
    ) -> None:
        self.granularities: tuple[Granularity, ...] = tuple(granularities)
        unknown = set(self.granularities) - set(GRANULARITIES)
        if unknown or not self.granularities:
            raise ValueError(f"granularities must be some of {GRANULARITIES}")
        if allowed_lateness < timedelta(0):
            raise ValueError("allowed_lateness must be >= 0")
        self.allowed_lateness = allowed_lateness
        self.newest_seen: datetime | None = None
        self._watermark_us: int | None = None  # highest watermark drained so far
        self._horizon_us: int | None = None  # windows ending at or before this were dropped
        self._windows: dict[WindowKey, _Counters] = {}
        self._by_account: dict[str, set[WindowKey]] = {}
        self._pending: list[tuple[int, WindowKey]] = []  # (end, key) of dirty windows
        self._expiry: list[tuple[int, WindowKey]] = []  # (end, key) of every window

    # --- input ------------------------------------------------------------------------

    def add(self, event: LiveEvent | RatedEvent) -> bool:
        """Count one fresh event in its windows. False (nothing counted) when the event is
        flagged late or falls into a window already dropped."""
        ev = as_live(event)
        if ev.late:
            return False
        bounds = [(g, window_bounds_us(ev.ts, g, ev.tz)) for g in self.granularities]
        if self._horizon_us is not None and any(end <= self._horizon_us for _, (_, end) in bounds):
            return False
        if self.newest_seen is None or ev.ts > self.newest_seen:
            self.newest_seen = ev.ts
        for granularity, (start, end) in bounds:
            key = WindowKey(granularity, ev.account_id, ev.api_key_id, ev.model, start, end)
            counters = self._windows.get(key)
            if counters is None:
                counters = self._windows[key] = _Counters()
                self._by_account.setdefault(ev.account_id, set()).add(key)
                heapq.heappush(self._expiry, (end, key))
            counters.requests += 1
            counters.input_tokens += ev.input_tokens
            counters.output_tokens += ev.output_tokens
            counters.list_cost += ev.list_cost
            if not counters.dirty:
                counters.dirty = True
                heapq.heappush(self._pending, (end, key))
        return True

    def add_many(self, events: Iterable[LiveEvent | RatedEvent]) -> int:
        """`add` each event; the number counted."""
        return sum(1 for e in events if self.add(e))

    # --- output -----------------------------------------------------------------------

    @property
    def watermark(self) -> datetime | None:
        """The highest watermark passed to `drain_closed` so far."""
        return None if self._watermark_us is None else from_us(self._watermark_us)

    def drain_closed(self, watermark: datetime) -> list[WindowRow]:
        """Rows of the windows that closed (end <= watermark) and changed since they were
        last drained; then drop windows ending at or before watermark − allowed lateness.

        A typical watermark is the newest event time seen (`newest_seen`), optionally minus
        a grace period. Rows are ordered by window end, granularity, account, key, model."""
        wm = to_us(watermark)
        if self._watermark_us is None or wm > self._watermark_us:
            self._watermark_us = wm
        out: list[WindowRow] = []
        while self._pending and self._pending[0][0] <= wm:
            _, key = heapq.heappop(self._pending)
            counters = self._windows.get(key)
            if counters is None or not counters.dirty:
                continue
            counters.dirty = False
            counters.revision += 1
            out.append(_row(key, counters))
        cutoff = wm - self.allowed_lateness // timedelta(microseconds=1)
        while self._expiry and self._expiry[0][0] <= cutoff:
            _, key = heapq.heappop(self._expiry)
            self._drop(key)
        if self._horizon_us is None or cutoff > self._horizon_us:
            self._horizon_us = cutoff
        out.sort(key=_sort_key)
        return out

    def current(self, account_id: str, granularity: Granularity, *, include_closed: bool = False) -> list[WindowRow]:
        """Live rows of an account: its windows of `granularity` that have not closed yet
        (end > the last drained watermark), or every window still kept if include_closed.
        Ordered by window start, key, model."""
        keys = self._by_account.get(account_id, ())
        wm = self._watermark_us
        rows = [
            _row(k, self._windows[k])
            for k in keys
            if k.granularity == granularity and (include_closed or wm is None or k.end_us > wm)
        ]
        rows.sort(key=lambda r: (r.window_start, r.api_key_id, r.model))
        return rows

    def accounts(self) -> list[str]:
        return sorted(self._by_account)

    def __len__(self) -> int:
        """Number of windows kept in memory."""
        return len(self._windows)

    def _drop(self, key: WindowKey) -> None:
        if self._windows.pop(key, None) is None:
            return
        keys = self._by_account.get(key.account_id)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_account[key.account_id]

    # --- persistence (changelog) ------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able snapshot; `from_dict(to_dict())` behaves identically."""
        return {
            "granularities": list(self.granularities),
            "allowed_lateness_us": self.allowed_lateness // timedelta(microseconds=1),
            "newest_seen": None if self.newest_seen is None else self.newest_seen.isoformat(),
            "watermark_us": self._watermark_us,
            "horizon_us": self._horizon_us,
            "windows": [
                [*key, c.requests, c.input_tokens, c.output_tokens, str(c.list_cost), c.revision, c.dirty]
                for key, c in sorted(self._windows.items())
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowAggregator:
        agg = cls(
            granularities=cast(list[Granularity], data["granularities"]),
            allowed_lateness=timedelta(microseconds=int(data["allowed_lateness_us"])),
        )
        newest = data.get("newest_seen")
        agg.newest_seen = None if newest is None else datetime.fromisoformat(newest)
        agg._watermark_us = data.get("watermark_us")
        agg._horizon_us = data.get("horizon_us")
        for item in data["windows"]:
            gran, account, api_key, model, start, end = item[:6]
            requests, input_tokens, output_tokens, cost, revision, dirty = item[6:]
            key = WindowKey(gran, account, api_key, model, int(start), int(end))
            c = _Counters()
            c.requests, c.input_tokens, c.output_tokens = requests, input_tokens, output_tokens
            c.list_cost, c.revision, c.dirty = Decimal(cost), revision, bool(dirty)
            agg._windows[key] = c
            agg._by_account.setdefault(account, set()).add(key)
            agg._expiry.append((key.end_us, key))
            if c.dirty:
                agg._pending.append((key.end_us, key))
        heapq.heapify(agg._expiry)
        heapq.heapify(agg._pending)
        return agg
