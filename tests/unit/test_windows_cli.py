"""`usageflow windows` without a broker: what a consumer keeps, and how it reads bad records."""

from __future__ import annotations

import orjson
import pytest

from usageflow.cli.windows_cmd import decode_windows, latest_revisions

pytestmark = pytest.mark.unit


def rec(window_id: str, revision: int, requests: int, **over: object) -> dict[str, object]:
    return {
        "window_id": window_id,
        "revision": revision,
        "requests": requests,
        "account_id": "a",
        "granularity": "1m",
        "window_start": "2026-11-28T10:00:00Z",
        "api_key_id": "k",
        "model": "m",
        **over,
    }


def test_a_consumer_keeps_the_highest_revision_and_the_later_of_equal_ones() -> None:
    records = [
        rec("w1", 1, 1),
        rec("w2", 1, 5, granularity="1d", window_start="2026-11-28T00:00:00+08:00"),
        rec("w1", 2, 3),
        rec("w1", 1, 1),  # an old revision read later (another partition): ignored
        rec("w2", 1, 6, granularity="1d", window_start="2026-11-28T00:00:00+08:00"),  # re-published
        rec("w0", 1, 9, account_id="0-first"),
    ]
    kept = latest_revisions(records)
    assert [(r["window_id"], r["revision"], r["requests"]) for r in kept] == [
        ("w0", 1, 9),  # sorted by account, then granularity (1m, 1h, 1d), start, key, model
        ("w1", 2, 3),
        ("w2", 1, 6),
    ]


def test_records_that_are_not_window_aggregates_are_skipped_with_a_note(capsys: pytest.CaptureFixture[str]) -> None:
    good = orjson.dumps(rec("w1", 1, 1))
    got = list(decode_windows([b"{not json", None, b"[1]", orjson.dumps({"window_id": "x"}), good]))
    assert got == [orjson.loads(good)]
    assert capsys.readouterr().err.count("skipped a record of the windows topic") == 4
