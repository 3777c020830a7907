"""Pure helpers of the benchmark harness (`make bench`): percentiles, rates from progress points, py-spy summaries."""

from __future__ import annotations

import pytest

from benchmarks.spy import summarize_collapsed
from benchmarks.stats import Span, percentile, ratio, rounded, span_from_points, summarize

pytestmark = pytest.mark.unit


def test_percentile_interpolates_like_numpy_linear() -> None:
    samples = [10.0, 20.0, 30.0, 40.0]
    assert percentile(samples, 0) == 10.0
    assert percentile(samples, 100) == 40.0
    assert percentile(samples, 50) == 25.0
    assert percentile(samples, 99) == pytest.approx(39.7)
    assert percentile([5.0], 99) == 5.0


def test_percentile_ignores_input_order() -> None:
    assert percentile([3, 1, 2], 50) == 2.0


def test_percentile_of_twenty_runs_p99_sits_between_the_two_largest() -> None:
    runs = [float(i) for i in range(1, 21)]
    assert percentile(runs, 99) == pytest.approx(19.81)


@pytest.mark.parametrize("q", [-1, 101, float("nan")])
def test_percentile_rejects_ranks_outside_0_100(q: float) -> None:
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        percentile([1.0], q)


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)


def test_summarize() -> None:
    s = summarize([1.0, 2.0, 3.0, 10.0])
    assert (s.count, s.p50, s.mean, s.max) == (4, 2.5, 4.0, 10.0)


def test_span_counts_only_work_between_first_and_last_observation() -> None:
    # counter observed: 0 (startup), 20,000 after the first batch at t=10, done at t=14
    points = [(9.0, 0), (10.0, 20_000), (12.0, 60_000), (14.0, 100_000), (15.0, 100_000)]
    span = span_from_points(points)
    assert span == Span(20_000, 10.0, 100_000, 14.0)
    assert span.rate() == 20_000.0
    assert span.seconds == 4.0


def test_span_needs_progress_after_the_first_observation() -> None:
    assert span_from_points([]) is None
    assert span_from_points([(1.0, 0), (2.0, 0)]) is None
    assert span_from_points([(1.0, 500), (2.0, 500)]) is None


def test_empty_span_has_no_rate() -> None:
    assert Span(10, 1.0, 10, 1.0).rate() is None


def test_ratio_and_rounding_tolerate_missing_figures() -> None:
    assert ratio(50, 200) == 0.25
    assert ratio(None, 200) is None
    assert ratio(50, None) is None
    assert ratio(50, 0) is None
    assert rounded(None) is None
    assert rounded(1.26, 1) == 1.3


def test_collapsed_stacks_give_self_and_inclusive_shares() -> None:
    batch = "process_batch (/v/site-packages/usageflow/ingest/batch.py"
    lines = [
        f"main (app.py:1);handle (streams/handler.py:80);{batch}:52) 3",
        f"main (app.py:1);handle (streams/handler.py:81);{batch}:55) 1",
        "main (app.py:1);select (selectors.py:468) 4",
        "garbage line",
    ]
    out = summarize_collapsed(lines)
    assert out["samples"] == 8
    selfs = dict((name, pct) for name, pct in out["top_self_pct"])
    assert selfs["process_batch (usageflow/ingest/batch.py)"] == 50.0  # lines of one function merged
    assert selfs["select (selectors.py)"] == 50.0
    inclusive = dict((name, pct) for name, pct in out["top_inclusive_pct"])
    assert inclusive["main (app.py)"] == 100.0
    assert inclusive["handle (streams/handler.py)"] == 50.0


def test_no_samples() -> None:
    assert summarize_collapsed([]) == {"samples": 0, "top_self_pct": [], "top_inclusive_pct": []}
