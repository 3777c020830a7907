"""Live per-account state of the alert rules (usageflow.alerting.rules).

`AccountLiveState` keeps, per account: tokens per local day, tokens and list cost per local
month (a few recent periods each, so an allowed-late event still counts in its own period),
the account's in-flight requests, and the alert keys already fired. `apply` takes a batch of
fresh events and returns the alerts that fire; each (account, type, period, level) fires at
most once, including across restarts when the state is restored with `from_dict`, with
`mark_fired` (from the alerts topic) and `seed` (period totals from the warehouse).

Within a batch, events are applied in event-time order (stable for equal times), and after
each event every rule of its period is checked, so `triggered_at` is the event time of the
event that crossed; when one event crosses several levels, all of them fire.

Choices where the event contract is silent:

* Alerts are marked fired as soon as `apply` returns them; a caller that fails to publish
  them should restore the snapshot taken before `apply` (`to_dict`) and retry.
* Concurrency alerts belong to the local day of the event's `ts` (the crossing event's end).
* Events of a day older than the kept days (`keep_days`, default 4 local days: covers the
  48 h lateness) are ignored here; they are late anyway.
* The budget estimate is not monotonic in general (a large, cheap event lowers the blended
  tier factor), so the set of budget levels fired may depend on arrival order; the token
  and concurrency rules do not (for the usage rules the totals only grow).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from usageflow.alerting.concurrency import DEFAULT_RETENTION, ConcurrencyTracker
from usageflow.alerting.credits_rule import CREDITS_LOW, CreditsCheck
from usageflow.alerting.events import LiveEvent, as_live
from usageflow.alerting.periods import day_bounds, month_of_day, shift_day, shift_month
from usageflow.alerting.quiet import BatchColumns, WalkRow, end_totals, is_quiet, walk_row
from usageflow.alerting.rules import (
    DEFAULT_RULES,
    RULE_TYPES,
    AlertKey,
    BudgetEstimator,
    Limits,
    RuleConfig,
    alert_key,
    level_str,
)
from usageflow.alerting.thresholds import FiredKey, RuleRun, Terms, shared_terms
from usageflow.pricing.credits import GrantBalance
from usageflow.pricing.price_book import PriceBook
from usageflow.pricing.rating import RatedEvent, billing_timezone
from usageflow.schemas import Account, Alert, AlertType

_RULE_ORDER = {t: i for i, t in enumerate((*RULE_TYPES, CREDITS_LOW))}


def _in_order(alerts: list[Alert]) -> list[Alert]:
    """Alerts as `apply` returns them: by triggered_at, rule, level."""
    alerts.sort(key=lambda a: (a.triggered_at, _RULE_ORDER[a.type], a.level))
    return alerts


class AccountLiveState:
    """Day / month totals, in-flight requests and fired alert keys of one account."""

    def __init__(
        self,
        account_id: str,
        *,
        keep_days: int = 4,
        keep_months: int = 3,
        concurrency_retention: timedelta = DEFAULT_RETENTION,
    ) -> None:
        if keep_days < 1 or keep_months < 1:
            raise ValueError("keep_days and keep_months must be >= 1")
        self.account_id = account_id
        self.keep_days = keep_days
        self.keep_months = keep_months
        self.day_tokens: dict[str, int] = {}
        self.month_tokens: dict[str, int] = {}
        self.month_list_cost: dict[str, Decimal] = {}
        self.concurrency = ConcurrencyTracker(concurrency_retention)
        self.fired: set[FiredKey] = set()
        self.newest_day: str | None = None
        self._pruned_at: str | None = None  # newest_day at the last _prune
        self._terms_cache: tuple[Any, Any, Any, Terms] | None = None

    # --- periods kept -----------------------------------------------------------------

    @property
    def newest_month(self) -> str | None:
        return None if self.newest_day is None else month_of_day(self.newest_day)

    def _oldest_day(self) -> str | None:
        return None if self.newest_day is None else shift_day(self.newest_day, 1 - self.keep_days)

    def _oldest_month(self) -> str | None:
        newest = self.newest_month
        return None if newest is None else shift_month(newest, 1 - self.keep_months)

    def _advance(self, day: str) -> None:
        if self.newest_day is None or day > self.newest_day:
            self.newest_day = day

    def _prune(self) -> None:
        """Forget the periods older than the ones kept. Only when the newest day moved: events
        older than the kept days are skipped, so nothing older was added since."""
        if self.newest_day == self._pruned_at:
            return
        oldest_day, oldest_month = self._oldest_day(), self._oldest_month()
        if oldest_day is None or oldest_month is None:
            return
        self._pruned_at = self.newest_day
        self.day_tokens = {k: v for k, v in self.day_tokens.items() if k >= oldest_day}
        self.month_tokens = {k: v for k, v in self.month_tokens.items() if k >= oldest_month}
        self.month_list_cost = {k: v for k, v in self.month_list_cost.items() if k >= oldest_month}
        self.fired = {key for key in self.fired if key[1] >= (oldest_day if len(key[1]) == 10 else oldest_month)}

    # --- alerts -----------------------------------------------------------------------

    def has_fired(self, rule_type: AlertType, period: str, level: Decimal | str) -> bool:
        return (rule_type, period, level_str(level)) in self.fired

    def fired_keys(self) -> list[AlertKey]:
        return sorted((self.account_id, t, p, lv) for t, p, lv in self.fired)

    def mark_fired(self, keys: Iterable[Alert | AlertKey]) -> None:
        """Record alerts already published (e.g. read back from the alerts topic); keys of
        other accounts are ignored."""
        for item in keys:
            account, rule_type, period, level = alert_key(item) if isinstance(item, Alert) else item
            if account == self.account_id:
                self.fired.add((rule_type, period, level_str(level)))

    def apply(
        self,
        events: Iterable[LiveEvent | RatedEvent],
        account: Account | None,
        book: PriceBook,
        now: datetime,
        config: RuleConfig = DEFAULT_RULES,
        credits: Sequence[GrantBalance] | None = None,
    ) -> list[Alert]:
        """Apply a batch of fresh (deduplicated) events of this account and return the new
        alerts (ordered by triggered_at, rule, level). Late events are skipped. `account` is
        the account's current record (None: unknown, payg); `now` becomes emitted_at;
        `credits` the account's grants (the `credits_low` rule)."""
        batch = [as_live(e) for e in events]
        for ev in batch:
            if ev.account_id != self.account_id:
                raise ValueError(f"event of account {ev.account_id!r} applied to {self.account_id!r}")
        batch = sorted((e for e in batch if not e.late), key=lambda e: e.ts)
        if not batch:
            return []
        rows = [walk_row(ev) for ev in batch]
        if not book.later_versions:
            alerts = self._walk(rows, account, book, now, config, credits)
        else:  # each month under the price version that bills it (docs/pricing.md §11)
            alerts = []
            tz = billing_timezone(account, book)
            for month in sorted({row[1][:7] for row in rows}):
                version = book.for_month(month, tz)
                alerts += self._walk([r for r in rows if r[1][:7] == month], account, version, now, config, credits)
        return _in_order(alerts)

    def apply_rated(
        self,
        batch: BatchColumns,
        lo: int,
        hi: int,
        account: Account | None,
        book: PriceBook,
        now: datetime,
        config: RuleConfig = DEFAULT_RULES,
        credits: Sequence[GrantBalance] | None = None,
    ) -> list[Alert]:
        """`apply` for this account's run `[lo, hi)` of a batch of fresh, non-late rated events
        (usageflow.alerting.quiet): a run that cannot fire anything is added at once, any other
        is walked event by event. Both leave the same state."""
        days = batch.days[lo:hi]
        newest = max(days)
        if self.newest_day is not None and self.newest_day > newest:
            newest = self.newest_day
        if book.later_versions:
            return self.apply(batch.events[lo:hi], account, book, now, config, credits)
        if min(days) < shift_day(newest, 1 - self.keep_days):  # the walk skips some
            return self._walk(batch.walk_rows(lo, hi), account, book, now, config, credits)
        limits, rules, estimator = self._terms(account, book, config)
        run = RuleRun(self.account_id, self.fired, limits, rules, now)
        credit_check = self._credits_check(credits, limits, account, book, config, estimator, now)
        end = end_totals(batch, lo, hi, self.day_tokens, self.month_tokens, self.month_list_cost)
        if not is_quiet(end, run, self.concurrency, estimator, credit_check):
            return _in_order(self._walk(batch.walk_rows(lo, hi), account, book, now, config, credits))
        self.day_tokens.update(end.day_tokens)
        self.month_tokens.update(end.month_tokens)
        self.month_list_cost.update(end.month_list_cost)
        self.newest_day = newest
        self.concurrency.insert_many_us(batch.starts[lo:hi], batch.ends[lo:hi])
        self._prune()
        return []

    def _walk(
        self,
        rows: Sequence[WalkRow],
        account: Account | None,
        book: PriceBook,
        now: datetime,
        config: RuleConfig,
        credits: Sequence[GrantBalance] | None,
    ) -> list[Alert]:
        """`apply` for events sorted by time, all billed under the price version `book`: after
        each event, every rule of its period is checked."""
        limits, rules, estimator = self._terms(account, book, config)
        run = RuleRun(self.account_id, self.fired, limits, rules, now)
        credit_check = self._credits_check(credits, limits, account, book, config, estimator, now)
        budget_floors: dict[str, Decimal] = {}  # per month, see _budget_floor
        if credit_check is not None:
            credit_check.bound_by(self._end_costs(rows))
        oldest = self._oldest_day()
        for ts, day, tokens, cost, start_us, end_us in rows:
            if self.newest_day is None or day > self.newest_day:
                self.newest_day = day
                oldest = self._oldest_day()
            if oldest is not None and day < oldest:
                continue
            month = day[:7]
            day_total = self.day_tokens[day] = self.day_tokens.get(day, 0) + tokens
            month_total = self.month_tokens[month] = self.month_tokens.get(month, 0) + tokens
            month_cost = self.month_list_cost[month] = self.month_list_cost.get(month, Decimal(0)) + cost
            # the exact peak only when it may reach the lowest level not yet fired today
            peak = self.concurrency.add_us_reaching(start_us, end_us, run.lowest_pending("concurrency", day))
            run.check("daily_usage", day, day_total, ts)
            run.check("monthly_usage", month, month_total, ts)
            if peak is not None:
                run.check("concurrency", day, peak, ts)
            if estimator is not None:
                floor = budget_floors.get(month)
                if floor is None:
                    floor = budget_floors[month] = self._budget_floor(run, month, estimator)
                if month_cost >= floor:
                    low = run.lowest_pending("budget", month)
                    if low is not None and estimator.may_reach(month_total, month_cost, low):
                        run.check("budget", month, estimator(month_total, month_cost), ts)
                        del budget_floors[month]  # a level fired: the lowest pending one moved up
            if credit_check is not None:
                credit_check.check(month, month_total, month_cost, ts)
        self._prune()
        if credit_check is not None:
            run.alerts += credit_check.alerts
        return run.alerts

    def _budget_floor(self, run: RuleRun, month: str, estimator: BudgetEstimator) -> Decimal:
        """The month's list cost below which no budget level can be reached yet (Infinity:
        every level fired): the estimate of any moment is at most `estimator.upper_bound` of the
        month's cost then, so while the running cost stays below the lowest pending level's
        floor, events are not estimated one by one."""
        low = run.lowest_pending("budget", month)
        return Decimal("Infinity") if low is None else estimator.cost_floor(low)

    def _end_costs(self, rows: Sequence[WalkRow]) -> dict[str, Decimal]:
        """Each month's list cost once the batch is applied."""
        end: dict[str, Decimal] = {}
        for _, day, _, cost, _, _ in rows:
            end[day[:7]] = end.get(day[:7], Decimal(0)) + cost
        return {month: self.month_list_cost.get(month, Decimal(0)) + added for month, added in end.items()}

    def catch_up(
        self,
        account: Account | None,
        book: PriceBook,
        now: datetime,
        last_event_at: Mapping[str, datetime],
        config: RuleConfig = DEFAULT_RULES,
        credits: Sequence[GrantBalance] | None = None,
    ) -> list[Alert]:
        """After `seed`: fire the usage and budget levels the seeded totals already reach but no
        published alert records (a worker stopped between storing events and alerting on them).
        `last_event_at` gives, per seeded day or month, the time of its newest stored event,
        used as `triggered_at`. Concurrency is re-derived from the recent requests seeded into
        the tracker."""
        tz = billing_timezone(account, book)
        alerts: list[Alert] = []
        for month in sorted({day[:7] for day in self.day_tokens} | set(self.month_tokens)):
            version = book.for_month(month, tz)
            alerts += self._catch_up_month(month, tz, account, version, now, last_event_at, config, credits)
        return alerts

    def _catch_up_month(
        self,
        month: str,
        tz: str,
        account: Account | None,
        book: PriceBook,
        now: datetime,
        last_event_at: Mapping[str, datetime],
        config: RuleConfig,
        credits: Sequence[GrantBalance] | None,
    ) -> list[Alert]:
        """`catch_up` for one month, under the price version that bills it."""
        limits, rules, estimator = self._terms(account, book, config)
        run = RuleRun(self.account_id, self.fired, limits, rules, now)
        credit_check = self._credits_check(credits, limits, account, book, config, estimator, now)
        for day, tokens in sorted(self.day_tokens.items()):
            if day[:7] == month and day in last_event_at:
                run.check("daily_usage", day, tokens, last_event_at[day])
                start, end = day_bounds(day, tz)
                run.check(
                    "concurrency",
                    day,
                    self.concurrency.peak(start, end - timedelta(microseconds=1)),
                    last_event_at[day],
                )
        month_tokens = self.month_tokens.get(month)
        if month_tokens is not None and month in last_event_at:
            run.check("monthly_usage", month, month_tokens, last_event_at[month])
            cost = self.month_list_cost.get(month, Decimal(0))
            if estimator is not None:
                run.check("budget", month, estimator(month_tokens, cost), last_event_at[month])
            if credit_check is not None:
                credit_check.check(month, month_tokens, cost, last_event_at[month], exact=True)
        if credit_check is not None:
            run.alerts += credit_check.alerts
        return run.alerts

    def _credits_check(
        self,
        credits: Sequence[GrantBalance] | None,
        limits: Limits,
        account: Account | None,
        book: PriceBook,
        config: RuleConfig,
        estimator: BudgetEstimator | None,
        now: datetime,
    ) -> CreditsCheck | None:
        """The `credits_low` rule of this call, when the account has grants and the rule levels."""
        levels = config.levels(CREDITS_LOW)
        if not credits or not levels:
            return None
        return CreditsCheck(
            self.account_id,
            limits.plan,
            credits,
            levels,
            lambda: estimator or BudgetEstimator(book, account),
            self.fired,
            now,
        )

    def _terms(self, account: Account | None, book: PriceBook, config: RuleConfig) -> Terms:
        """Limits, thresholds and the budget estimator, kept while the account record, the
        price book and the rules are the same objects (a changed account is a new object)."""
        cached = self._terms_cache
        if cached is not None and cached[0] is account and cached[1] is book and cached[2] is config:
            return cached[3]
        terms = shared_terms(account, book, config)
        self._terms_cache = (account, book, config, terms)
        return terms

    # --- restore ----------------------------------------------------------------------

    def seed(
        self,
        *,
        month_tokens: Mapping[str, int] | None = None,
        month_list_cost: Mapping[str, Decimal] | None = None,
        day_tokens: Mapping[str, int] | None = None,
    ) -> None:
        """Set period totals restored from the warehouse (replacing what is held for those
        periods). Fires nothing: a level already reached fires with the next event unless
        `mark_fired` says it was published."""
        for month, tokens in (month_tokens or {}).items():
            self.month_tokens[month] = int(tokens)
        for month, cost in (month_list_cost or {}).items():
            self.month_list_cost[month] = Decimal(cost)
        for day, tokens in (day_tokens or {}).items():
            self.day_tokens[day] = int(tokens)
            self._advance(day)
        months = [*(month_tokens or {}), *(month_list_cost or {})]
        if months:
            newest = self.newest_month
            if newest is None or max(months) > newest:
                self.newest_day = f"{max(months)}-01"
        self._prune()

    def totals(self) -> dict[str, Any]:
        """What is held, for an HTTP endpoint: tokens per day, tokens and list cost per month."""
        return {
            "account_id": self.account_id,
            "day_tokens": dict(sorted(self.day_tokens.items())),
            "month_tokens": dict(sorted(self.month_tokens.items())),
            "month_list_cost": {k: str(v) for k, v in sorted(self.month_list_cost.items())},
        }

    # --- persistence (changelog table) ------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "keep_days": self.keep_days,
            "keep_months": self.keep_months,
            "newest_day": self.newest_day,
            "day_tokens": dict(sorted(self.day_tokens.items())),
            "month_tokens": dict(sorted(self.month_tokens.items())),
            "month_list_cost": {k: str(v) for k, v in sorted(self.month_list_cost.items())},
            "fired": [list(k) for k in sorted(self.fired)],
            "concurrency": self.concurrency.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccountLiveState:
        state = cls(
            str(data["account_id"]),
            keep_days=int(data["keep_days"]),
            keep_months=int(data["keep_months"]),
        )
        state.newest_day = data.get("newest_day")
        state.day_tokens = {str(k): int(v) for k, v in data["day_tokens"].items()}
        state.month_tokens = {str(k): int(v) for k, v in data["month_tokens"].items()}
        state.month_list_cost = {str(k): Decimal(v) for k, v in data["month_list_cost"].items()}
        state.fired = {(str(t), str(p), level_str(lv)) for t, p, lv in data["fired"]}
        state.concurrency = ConcurrencyTracker.from_dict(data["concurrency"])
        return state
