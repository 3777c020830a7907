"""What the benchmark sends: ~1,000 accounts on every plan, generated usage, alert triggers.

Built on `usageflow.demo.generator` (deterministic: same seed, same events); only the account list
is the benchmark's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

import orjson

from usageflow.demo.generator import StreamShape, generate_events, generate_lines
from usageflow.schemas import Account

MONTH = "2026-11"  # the generator's default start is 2026-11-01 (span 27 days)
PLANS = ("payg", "starter", "standard", "professional", "enterprise")
ZONES = (None, "Asia/Shanghai", "America/Los_Angeles", "Europe/Berlin")
ALERT_PLAN = "starter"  # 500,000 tokens a month: one 460,000-token request crosses day and month
CROSSING_TOKENS = 460_000


def account_ids(count: int) -> tuple[str, ...]:
    return tuple(f"acct-{i:04d}" for i in range(count))


def bench_shape(accounts: int) -> StreamShape:
    """The generator's default shape over `accounts` accounts (skewed 1/rank popularity)."""
    return StreamShape(accounts=account_ids(accounts))


def bench_accounts(count: int) -> list[Account]:
    """A deterministic mix: every plan, some discounts, budgets and time zones."""
    accounts = []
    for i, account_id in enumerate(account_ids(count)):
        plan = PLANS[i % len(PLANS)]
        accounts.append(
            Account(
                account_id=account_id,
                plan=plan,
                prepaid=plan != "payg" and i % 3 == 0,
                contract_months=12 if plan != "payg" and i % 4 == 0 else 0,
                educational=i % 7 == 0,
                timezone=ZONES[i % len(ZONES)],
                monthly_budget=Decimal(50 * (1 + i % 10)) if i % 2 == 0 else None,
            )
        )
    return accounts


def alert_accounts(count: int, run_tag: str) -> list[Account]:
    """Fresh accounts for the alert-latency phase: each gets exactly one crossing request."""
    return [Account(account_id=f"alrt-{run_tag}-{i:04d}", plan=ALERT_PLAN) for i in range(count)]


def account_bytes(account: Account) -> bytes:
    return orjson.dumps(account.model_dump(mode="json"))


def event_lines(count: int, accounts: int, seed: int = 7) -> Iterator[bytes]:
    """The throughput workload: `count` distinct events, no duplicates or bad records."""
    return generate_lines(count, bench_shape(accounts), seed)


def timeline_end(shape: StreamShape | None = None) -> datetime:
    """Where the generated stream's event time ends: live events continue from there, so
    they are never late against the worker's watermark."""
    shape = shape or StreamShape()
    return shape.start + shape.span


def _stamp(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LiveTraffic:
    """Ordinary events for a steady background load, stamped with a live event time."""

    def __init__(self, accounts: int, seed: int = 11) -> None:
        self._source = generate_events(10_000_000, bench_shape(accounts), seed)
        self._serial = 0

    def next_line(self, ts: datetime) -> tuple[bytes, bytes]:
        event = next(self._source)
        self._serial += 1
        event["event_id"] = f"live-{self._serial:09d}"
        event["ts"] = _stamp(ts)
        return str(event["account_id"]).encode(), orjson.dumps(event)


def crossing_event(account_id: str, ts: datetime, serial: int) -> bytes:
    """One request that crosses the starter plan's daily (80%) and monthly (90%) levels."""
    return orjson.dumps(
        {
            "schema_version": 1,
            "event_id": f"cross-{serial:06d}",
            "account_id": account_id,
            "api_key_id": f"{account_id}-key-0",
            "model": "qwen-plus",
            "region": "us-west",
            "input_tokens": CROSSING_TOKENS,
            "output_tokens": 0,
            "ts": _stamp(ts),
            "latency_ms": 900,
        }
    )


def live_time(base: datetime, elapsed_s: float) -> datetime:
    return base + timedelta(seconds=elapsed_s)
