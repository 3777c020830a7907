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
    """Ordinary events for a steady background load, stamped with a live event time.

    Generating an event costs ~50 µs of Python, which at 10,000 events/s would take half a
    core from the worker under test. So `pool` events are generated and serialised up front,
    and each line splices a fresh `event_id` and `ts` into one of them (~2 µs); the pool
    repeats, the ids stay unique."""

    def __init__(self, accounts: int, seed: int = 11, pool: int = 50_000) -> None:
        self._templates: list[tuple[bytes, bytes, bytes, bytes]] = []
        for event in generate_events(pool, bench_shape(accounts), seed):
            event["event_id"], event["ts"] = _ID_MARK, _TS_MARK
            head, rest = orjson.dumps(event).split(_quoted(_ID_MARK))
            middle, tail = rest.split(_quoted(_TS_MARK))
            self._templates.append((str(event["account_id"]).encode(), head, middle, tail))
        self._serial = 0

    def next_line(self, ts: datetime) -> tuple[bytes, bytes]:
        key, head, middle, tail = self._templates[self._serial % len(self._templates)]
        self._serial += 1
        stamp = _stamp(ts).encode()
        return key, b"".join((head, b'"live-%09d"' % self._serial, middle, b'"', stamp, b'"', tail))


_ID_MARK, _TS_MARK = "@@event_id@@", "@@ts@@"


def _quoted(mark: str) -> bytes:
    return b'"' + mark.encode() + b'"'


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
