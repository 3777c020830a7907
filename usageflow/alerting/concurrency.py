"""In-flight requests of one account: the concurrency at an instant is the number of the
account's requests whose [ts − latency, ts] covers it.

Intervals are closed at both ends: [0, 10] and [10, 20] are both in flight at 10 (2), [0, 10]
and [11, 20] never overlap. A zero-latency request is the single instant [ts, ts].

`ConcurrencyTracker.add(start, end)` returns the peak concurrency at any instant of the new
interval once it is added. Whatever order requests arrive in, the last of any set of
overlapping requests to arrive sees the instant they share, so a crossing of a concurrency
level is detected at the moment its last request becomes known.

Memory is bounded: intervals that ended more than `retention` before the newest end seen are
pruned. Keep retention >= longest latency (1 h) + allowed lateness (48 h) so that any
non-late request still sees every request it overlaps; a request that ended before the
newest end − retention (a late one) is not counted exactly.

Representation: all starts and all ends, each in its own sorted `array('q')` of epoch
microseconds (16 bytes per request). The number in flight at instant p is
#(starts <= p) − #(ends < p), and the peak over [s, e] is reached at s or at a start inside
(s, e], so `add` costs O(log n + m log n) where m is the number of requests that started
during the new one — independent of how many long requests are held. Pruning drops the k
smallest ends and the k smallest starts together (all k pruned requests started before the
cutoff, so counts at instants after it are unchanged).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right, insort
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from usageflow.alerting.periods import to_us

DEFAULT_RETENTION = timedelta(hours=49)  # 1 h max latency + 48 h allowed lateness
_PRUNE_BATCH = 256


class ConcurrencyTracker:
    """Closed intervals [start, end] of one account's requests. Not thread-safe."""

    def __init__(self, retention: timedelta = DEFAULT_RETENTION) -> None:
        if retention < timedelta(0):
            raise ValueError("retention must be >= 0")
        self.retention_us = retention // timedelta(microseconds=1)
        self._starts: array[int] = array("q")
        self._ends: array[int] = array("q")
        self.newest_end_us: int | None = None

    def __len__(self) -> int:
        return len(self._starts)

    def add(self, start: datetime, end: datetime) -> int:
        """Add the request in flight over [start, end]; return the peak concurrency at any
        instant of [start, end], this request included (so >= 1)."""
        return self.add_us(to_us(start), to_us(end))

    def add_request(self, ts: datetime, latency_ms: int) -> int:
        """`add(ts − latency, ts)`."""
        end = to_us(ts)
        return self.add_us(end - latency_ms * 1000, end)

    def peak(self, start: datetime, end: datetime) -> int:
        """Peak concurrency within [start, end] of the intervals held (without adding)."""
        return self.peak_us(start=to_us(start), end=to_us(end))

    def add_us(self, start: int, end: int) -> int:
        if end < start:
            raise ValueError("interval end is before its start")
        result = self.peak_us(start, end) + 1
        self._insert(start, end)
        return result

    def _insert(self, start: int, end: int) -> None:
        insort(self._starts, start)
        insort(self._ends, end)
        if self.newest_end_us is None or end > self.newest_end_us:
            self.newest_end_us = end
        self._prune()

    def add_request_reaching(self, ts: datetime, latency_ms: int, floor: int | Fraction | None) -> int | None:
        """`add_request`, computing the peak only when it may reach `floor` (None: never): the
        peak is at most the number of held requests overlapping the new one, plus itself, an
        O(log n) count, while the exact peak walks every request that started during the new
        one (thousands for a busy account with long requests). Returns None when the peak is
        surely below `floor`."""
        end = to_us(ts)
        return self.add_us_reaching(end - latency_ms * 1000, end, floor)

    def add_us_reaching(self, start: int, end: int, floor: int | Fraction | None) -> int | None:
        """`add_request_reaching` for the request in flight over [start, end] (µs)."""
        if floor is not None:
            overlapping = bisect_right(self._starts, end) - bisect_left(self._ends, start)
            if overlapping + 1 >= floor:
                return self.add_us(start, end)
        if end < start:
            raise ValueError("interval end is before its start")
        self._insert(start, end)
        return None

    def overlapping_us(self, start: int, end: int) -> int:
        """Held intervals that share an instant with [start, end]: #(starts <= end) − #(ends <
        start) (an interval that ended before `start` also started before `end`)."""
        return bisect_right(self._starts, end) - bisect_left(self._ends, start)

    def insert_many_us(self, starts: list[int], ends: list[int]) -> None:
        """Hold the requests [starts[i], ends[i]] (none ends before it starts) without computing
        a peak: the arrays equal those of `_insert` one by one, up to intervals that are pruned.
        Each array keeps its held prefix below the smallest new value and sorts only the rest
        (live requests arrive nearly in time order, so that rest is short)."""
        if not starts:
            return
        self._starts = _merged(self._starts, starts)
        self._ends = _merged(self._ends, ends)
        newest = max(ends)
        if self.newest_end_us is None or newest > self.newest_end_us:
            self.newest_end_us = newest
        self._prune()

    def in_flight_us(self, instant: int) -> int:
        """Held intervals covering `instant` (both ends inclusive)."""
        return max(0, bisect_right(self._starts, instant) - bisect_left(self._ends, instant))

    def peak_us(self, start: int, end: int) -> int:
        """Peak number of held intervals covering one instant of [start, end]."""
        if end < start:
            raise ValueError("interval end is before its start")
        starts, ends = self._starts, self._ends
        best = self.in_flight_us(start)
        # the count only rises at a start, so the other candidates are the starts in (s, e]
        lo, hi = bisect_right(starts, start), bisect_right(starts, end)
        i = lo
        while i < hi:
            p = starts[i]
            i = bisect_right(starts, p, i, hi)  # past duplicates: index = #(starts <= p)
            best = max(best, i - bisect_left(ends, p))
        return best

    def _prune(self) -> None:
        if self.newest_end_us is None:
            return
        count = bisect_left(self._ends, self.newest_end_us - self.retention_us)
        if count and (count >= _PRUNE_BATCH or count * 4 >= len(self._ends)):
            del self._starts[:count]
            del self._ends[:count]

    # --- persistence ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "retention_us": self.retention_us,
            "newest_end_us": self.newest_end_us,
            "starts": self._starts.tolist(),
            "ends": self._ends.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConcurrencyTracker:
        tracker = cls(timedelta(microseconds=int(data["retention_us"])))
        newest = data.get("newest_end_us")
        tracker.newest_end_us = None if newest is None else int(newest)
        starts = sorted(int(s) for s in data["starts"])
        ends = sorted(int(e) for e in data["ends"])
        if len(starts) != len(ends):
            raise ValueError("starts and ends differ in length")
        tracker._starts = array("q", starts)
        tracker._ends = array("q", ends)
        return tracker


def _merged(held: array[int], new: list[int]) -> array[int]:
    """`held` (sorted) with the values of `new` inserted in order."""
    new = sorted(new)
    cut = bisect_right(held, new[0])
    if cut == len(held):
        held.extend(new)
    else:
        rest = sorted(held[cut:].tolist() + new)
        del held[cut:]
        held.extend(rest)
    return held
