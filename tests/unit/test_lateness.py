"""Allowed lateness edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from usageflow.alerting.lateness import is_late

pytestmark = pytest.mark.unit


def test_is_late_edges() -> None:
    newest = datetime(2026, 11, 28, 10, tzinfo=UTC)
    assert not is_late(newest - timedelta(hours=48), newest)
    assert is_late(newest - timedelta(hours=48, microseconds=1), newest)
    assert not is_late(newest + timedelta(hours=1), newest)
    assert not is_late(newest - timedelta(days=30), None)
    assert is_late(newest - timedelta(minutes=11), newest, allowed=timedelta(minutes=10))
