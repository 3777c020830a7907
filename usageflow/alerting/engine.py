"""The live side of the stream for one worker: lateness and alert state per account.

The agent hands it the batch's *fresh* events (the sink has just stored them, so each event
id counts once); it returns alerts to publish. Windowed aggregates are the pipeline's own step
(usageflow.windows), not this engine's. Restoring after a
restart: fired alerts come from the alerts topic and the warehouse (`mark_fired`), period
totals and recent in-flight requests from the warehouse (`seed_account`), so a restarted or
rebalanced worker neither repeats nor forgets an alert.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from usageflow.alerting.lateness import DEFAULT_ALLOWED_LATENESS, is_late
from usageflow.alerting.quiet import BatchColumns
from usageflow.alerting.rules import DEFAULT_RULES, AlertKey, RuleConfig
from usageflow.alerting.state import AccountLiveState
from usageflow.pricing.credits import GrantBalance
from usageflow.pricing.price_book import PriceBook
from usageflow.pricing.rating import RatedEvent
from usageflow.schemas import Account, Alert


@dataclass(frozen=True)
class AccountSeed:
    """What the warehouse holds for one account: period totals and recent requests."""

    account_id: str
    month_tokens: dict[str, int] = field(default_factory=dict)
    month_list_cost: dict[str, Decimal] = field(default_factory=dict)
    day_tokens: dict[str, int] = field(default_factory=dict)
    recent_requests: list[tuple[datetime, int]] = field(default_factory=list)  # (ts, latency_ms)
    last_event_at: dict[str, datetime] = field(default_factory=dict)  # per seeded day and month
    fired: list[AlertKey] = field(default_factory=list)


@dataclass
class LiveOutcome:
    alerts: list[Alert]
    late: int


class LiveEngine:
    def __init__(
        self,
        book: PriceBook,
        rules: RuleConfig = DEFAULT_RULES,
        allowed_lateness: timedelta = DEFAULT_ALLOWED_LATENESS,
    ) -> None:
        self.book = book
        self.rules = rules
        self.allowed_lateness = allowed_lateness
        self.states: dict[str, AccountLiveState] = {}
        self.newest_by_partition: dict[int, datetime] = {}
        self.pending: dict[str, AccountSeed] = {}
        self.restored = False
        self._published: dict[str, set[AlertKey]] = {}
        self.credits: Mapping[str, Sequence[GrantBalance]] = {}

    def set_credits(self, credits: Mapping[str, Sequence[GrantBalance]]) -> None:
        """The accounts' prepaid-credit grants with what issued invoices drew (the
        `credits_low` rule); replaced whole whenever they are read again."""
        self.credits = credits

    def restore(self, seeds: Iterable[AccountSeed]) -> None:
        """Every account's stored totals, read in one go whenever this worker's partitions are
        (re)assigned. Each seed is taken up by `activate` when its account first shows up in a
        batch here; an account without a seed has nothing stored and starts from zero."""
        self.reset()
        self.pending = {seed.account_id: seed for seed in seeds}
        self.restored = True

    def reset(self) -> None:
        """Forget all live state (partitions were reassigned: another worker may have moved
        some accounts on); the next batch restores it from the warehouse."""
        self.states.clear()
        self.pending.clear()
        self.newest_by_partition.clear()
        self.restored = False

    def activate(
        self, account_ids: Iterable[str], lookup_account: Callable[[str], Account | None], now: datetime
    ) -> list[Alert]:
        """Seed the accounts of a batch from `restore` (before the batch is stored, so a seed
        never includes it); return the alerts their stored totals reach but nobody published."""
        alerts: list[Alert] = []
        for account_id in account_ids:
            seed = self.pending.pop(account_id, None)
            if seed is not None:
                alerts += self.seed_account(seed, lookup_account(account_id), now)
        return alerts

    def mark_fired(self, keys: Iterable[AlertKey]) -> None:
        """Alerts already published (read back from the alerts topic at start and after each
        reassignment): kept for the life of the worker, since states are rebuilt."""
        for key in keys:
            self._published.setdefault(key[0], set()).add(key)
            state = self.states.get(key[0])
            if state is not None:
                state.mark_fired([key])

    def seed_account(
        self, seed: AccountSeed, account: Account | None = None, now: datetime | None = None
    ) -> list[Alert]:
        """Restore an account from the warehouse; return the alerts its stored totals already
        reach but nobody published (the worker died between storing and alerting)."""
        state = AccountLiveState(seed.account_id)
        state.seed(month_tokens=seed.month_tokens, month_list_cost=seed.month_list_cost, day_tokens=seed.day_tokens)
        for ts, latency_ms in sorted(seed.recent_requests):
            state.concurrency.add_request(ts, latency_ms)
        state.mark_fired(seed.fired)
        state.mark_fired(self._published.get(seed.account_id, ()))
        self.states[seed.account_id] = state
        if now is None or not seed.last_event_at:
            return []
        return state.catch_up(
            account, self.book, now, seed.last_event_at, self.rules, self.credits.get(seed.account_id)
        )

    def process(
        self,
        fresh: Sequence[tuple[int, RatedEvent]],
        lookup_account: Callable[[str], Account | None],
        now: datetime,
    ) -> LiveOutcome:
        """Apply a batch of (partition, fresh rated event); late events only skip the live side.
        Accounts are applied in the order they first show up in, each over its events in
        event-time order."""
        per_account: dict[str, list[RatedEvent]] = {}
        late = 0
        for partition, rated in fresh:
            ts = rated.event.ts
            newest = self.newest_by_partition.get(partition)
            if is_late(ts, newest, self.allowed_lateness):
                late += 1
                continue
            if newest is None or ts > newest:
                self.newest_by_partition[partition] = ts
            per_account.setdefault(rated.event.account_id, []).append(rated)
        alerts: list[Alert] = []
        batch = BatchColumns.of(per_account)
        if batch is None:  # a naive time or a negative latency: the walk names it
            for account_id, events in per_account.items():
                credits = self.credits.get(account_id)
                state = self._state(account_id)
                alerts += state.apply(events, lookup_account(account_id), self.book, now, self.rules, credits)
            return LiveOutcome(alerts=alerts, late=late)
        for account_id, lo, hi in batch.runs:
            credits = self.credits.get(account_id)
            state = self._state(account_id)
            alerts += state.apply_rated(batch, lo, hi, lookup_account(account_id), self.book, now, self.rules, credits)
        return LiveOutcome(alerts=alerts, late=late)

    def _state(self, account_id: str) -> AccountLiveState:
        state = self.states.get(account_id)
        if state is not None:
            return state
        state = self.states[account_id] = AccountLiveState(account_id)
        state.mark_fired(self._published.get(account_id, ()))
        return state

    def totals(self, account_id: str) -> dict[str, Any] | None:
        """The alert rules' running day and month totals of one account (None: not held here)."""
        state = self.states.get(account_id)
        return state.totals() if state else None
