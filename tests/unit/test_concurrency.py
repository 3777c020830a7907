"""In-flight requests: closed intervals [ts − latency, ts], peak within the new interval."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usageflow.alerting.concurrency import ConcurrencyTracker

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def add(tracker: ConcurrencyTracker, a: float, b: float) -> int:
    return tracker.add(at(a), at(b))


def test_touching_intervals_overlap_at_the_shared_instant() -> None:
    t = ConcurrencyTracker()
    assert add(t, 0, 10) == 1
    assert add(t, 10, 20) == 2


def test_intervals_one_apart_do_not_overlap() -> None:
    t = ConcurrencyTracker()
    assert add(t, 0, 10) == 1
    assert add(t, 11, 20) == 1
    assert add(t, 10.5, 10.9) == 1


def test_touching_by_one_microsecond() -> None:
    t = ConcurrencyTracker()
    t.add_us(0, 10)
    assert t.add_us(11, 20) == 1
    assert t.add_us(10, 10) == 2  # touches [0, 10] at 10 only
    assert t.add_us(10, 11) == 3  # [0,10] and [10,10] at 10; [11,20] at 11


def test_zero_latency_requests() -> None:
    t = ConcurrencyTracker()
    assert t.add_request(at(5), 0) == 1
    assert t.add_request(at(5), 0) == 2  # two instants at the same time
    assert add(t, 0, 10) == 3
    assert t.add_request(at(10), 0) == 2  # end of [0, 10]
    assert t.add_request(at(10.001), 0) == 1


def test_add_request_uses_latency() -> None:
    t = ConcurrencyTracker()
    assert t.add_request(at(10), 10_000) == 1  # [0, 10]
    assert t.add_request(at(20), 10_000) == 2  # [10, 20]
    assert t.add_request(at(31), 10_000) == 1  # [21, 31]


def test_out_of_order_arrival_sees_the_same_peak() -> None:
    t = ConcurrencyTracker()
    assert add(t, 10, 20) == 1
    assert add(t, 0, 10) == 2
    for order in ([(0, 100), (50, 60), (55, 58)], [(55, 58), (50, 60), (0, 100)], [(50, 60), (55, 58), (0, 100)]):
        t = ConcurrencyTracker()
        results = [add(t, a, b) for a, b in order]
        assert results[-1] == 3
        assert max(results) == 3


def test_peak_is_within_the_new_interval_only() -> None:
    t = ConcurrencyTracker()
    add(t, 0, 10)
    add(t, 20, 30)
    assert add(t, 5, 25) == 2  # [0,10] and [20,30] never overlap each other
    assert add(t, 21, 22) == 3  # [20,30] and [5,25] and itself
    assert t.peak(at(100), at(200)) == 0


def test_nested_identical_requests() -> None:
    t = ConcurrencyTracker()
    assert [add(t, 0, 10) for _ in range(5)] == [1, 2, 3, 4, 5]


def test_inverted_interval_is_refused() -> None:
    with pytest.raises(ValueError):
        add(ConcurrencyTracker(), 10, 0)


def test_memory_is_bounded_by_retention() -> None:
    t = ConcurrencyTracker(retention=timedelta(hours=1))
    for i in range(20_000):
        t.add_request(at(i), 500)  # one request per second, 5.5 h of them
    assert len(t) <= 3600 + 300 + 1 + 256 + 600
    # what is kept is still correct near the newest end
    assert t.add_request(at(19_999), 500) == 2


def test_long_latency_still_found_after_shorter_ones() -> None:
    t = ConcurrencyTracker()
    add(t, 0, 3600)  # a 1-hour request
    for i in range(100):
        add(t, 3700 + i, 3700 + i)
    assert add(t, 3599, 3599) == 2


def test_round_trip_through_json() -> None:
    t = ConcurrencyTracker(retention=timedelta(hours=2))
    for a, b in [(30, 40), (0, 10), (10, 20), (5, 5)]:
        add(t, a, b)
    restored = ConcurrencyTracker.from_dict(json.loads(json.dumps(t.to_dict())))
    assert restored.to_dict() == t.to_dict()
    assert add(restored, 10, 10) == add(t, 10, 10) == 3  # [0,10], [10,20], itself


INTERVALS = st.lists(
    st.tuples(st.integers(0, 50), st.integers(0, 10)).map(lambda p: (p[0], p[0] + p[1])), min_size=1, max_size=30
)


@given(INTERVALS)
def test_matches_brute_force(intervals: list[tuple[int, int]]) -> None:
    t = ConcurrencyTracker()
    seen: list[tuple[int, int]] = []
    for a, b in intervals:
        seen.append((a, b))
        expected = max(sum(1 for x, y in seen if x <= p <= y) for p in range(a, b + 1))
        assert t.add_us(a, b) == expected


@given(INTERVALS, st.randoms(use_true_random=False))
def test_overall_peak_is_order_independent(intervals: list[tuple[int, int]], rnd: object) -> None:
    shuffled = list(intervals)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    a, b = ConcurrencyTracker(), ConcurrencyTracker()
    assert max(a.add_us(*i) for i in intervals) == max(b.add_us(*i) for i in shuffled)


@given(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 20)), min_size=1, max_size=60))
def test_pruning_keeps_every_count_after_the_cutoff(items: list[tuple[int, int]]) -> None:
    t = ConcurrencyTracker(retention=timedelta(microseconds=50))
    seen: list[tuple[int, int]] = []
    for a, length in items:
        b = a + length
        cutoff = None if t.newest_end_us is None else max(t.newest_end_us, b) - 50
        seen.append((a, b))
        got = t.add_us(a, b)
        if cutoff is None or a >= cutoff:
            expected = max(sum(1 for x, y in seen if x <= p <= y) for p in range(a, b + 1))
            assert got == expected


@given(
    requests=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 3_000)), min_size=1, max_size=60),
    floors=st.lists(st.one_of(st.none(), st.integers(1, 12)), min_size=60, max_size=60),
)
def test_the_peak_is_computed_exactly_whenever_it_may_reach_the_floor(
    requests: list[tuple[int, int]], floors: list[int | None]
) -> None:
    exact, bounded = ConcurrencyTracker(), ConcurrencyTracker()
    for (end_ms, latency_ms), floor in zip(requests, floors, strict=False):
        peak = exact.add_request(at(end_ms / 1000), latency_ms)
        seen = bounded.add_request_reaching(at(end_ms / 1000), latency_ms, floor)
        if seen is None:
            assert floor is None or peak < floor  # skipped only when it cannot reach the floor
        else:
            assert seen == peak
    assert exact.to_dict() == bounded.to_dict()  # the same requests held either way
