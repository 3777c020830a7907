"""Pure helpers: percentiles, rates, ratios (unit-tested; no I/O)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks
    (numpy's default "linear" method). Raises ValueError on an empty sample or q outside 0..100."""
    if not samples:
        raise ValueError("percentile of an empty sample")
    if not 0 <= q <= 100 or math.isnan(q):
        raise ValueError(f"percentile rank must be within 0..100, got {q}")
    ordered = sorted(samples)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return float(ordered[low])
    fraction = position - low
    return float(ordered[low] + (ordered[high] - ordered[low]) * fraction)


@dataclass(frozen=True)
class Summary:
    count: int
    p50: float
    p99: float
    mean: float
    max: float


def summarize(samples: Sequence[float]) -> Summary:
    if not samples:
        raise ValueError("summary of an empty sample")
    return Summary(
        count=len(samples),
        p50=percentile(samples, 50),
        p99=percentile(samples, 99),
        mean=sum(samples) / len(samples),
        max=float(max(samples)),
    )


@dataclass(frozen=True)
class Span:
    """Two observations of a cumulative counter: (count, seconds) at the first and the last.

    The rate counts what was done *between* them, so the work before the first observation
    (connecting, joining the group, the first batch) is excluded from both sides."""

    first_count: int
    first_s: float
    last_count: int
    last_s: float

    @property
    def seconds(self) -> float:
        return self.last_s - self.first_s

    @property
    def events(self) -> int:
        return self.last_count - self.first_count

    def rate(self) -> float | None:
        """Events per second between the observations, None when the span is empty."""
        if self.seconds <= 0 or self.events <= 0:
            return None
        return self.events / self.seconds


def span_from_points(points: Sequence[tuple[float, int]]) -> Span | None:
    """A span from (seconds, cumulative count) observations: the first with a nonzero count
    and the first that reaches the final count. None when fewer than two distinct counts."""
    progressing = [(t, c) for t, c in points if c > 0]
    if not progressing:
        return None
    final = max(c for _, c in progressing)
    first_t, first_c = progressing[0]
    last_t = next(t for t, c in progressing if c == final)
    if final == first_c:
        return None
    return Span(first_c, first_t, final, last_t)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def rounded(value: float | None, places: int = 1) -> float | None:
    return None if value is None else round(value, places)
