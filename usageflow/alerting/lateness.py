"""Allowed lateness (docs/events.md): events further behind the newest event time of their
partition are billed but skip the live alert rules."""

from __future__ import annotations

from datetime import datetime, timedelta

DEFAULT_ALLOWED_LATENESS = timedelta(hours=48)


def is_late(ts: datetime, newest_seen_ts: datetime | None, allowed: timedelta = DEFAULT_ALLOWED_LATENESS) -> bool:
    """True when `ts` is more than `allowed` behind the newest event time seen (in the
    partition). Exactly `allowed` behind is not late; nothing is late before any event."""
    if newest_seen_ts is None:
        return False
    return newest_seen_ts - ts > allowed
