"""A batch of one account that cannot fire any alert, applied without walking it event by event.

`AccountLiveState.apply` walks a batch in event-time order and checks every rule after each
event. Most batches of most accounts fire nothing: every total stays below the lowest level not
yet fired in its period. `quiet_end` proves that from one bound per period, taken at the
batch's end:

* a day's and a month's tokens and a month's list cost only grow within a batch (token counts
  and prices are >= 0), so their values at its end bound every value during it;
* the budget estimate stays below its lowest pending level while the month's list cost is below
  `BudgetEstimator.cost_floor` of it (the walk's own pre-check), and `credits_low` is out of
  reach by `CreditsCheck.bound_by`, as in the walk;
* a request's peak concurrency is at most the held requests that overlap the batch's span plus
  the batch's own requests.

When every bound holds, the caller stores the end totals and holds the batch's requests in one
merge (`ConcurrencyTracker.insert_many_us`); the state then equals the walk's (the tests hold
the two equal). When one bound does not hold, the caller walks the batch. The walk skips
events older than the days kept; a batch with such an event is never quiet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import reduce
from itertools import repeat
from operator import add, attrgetter, floordiv, mul, sub

from usageflow.alerting.concurrency import ConcurrencyTracker
from usageflow.alerting.credits_rule import CreditsCheck
from usageflow.alerting.events import LiveEvent
from usageflow.alerting.periods import EPOCH, day_key, to_us
from usageflow.alerting.rules import BudgetEstimator
from usageflow.alerting.thresholds import RuleRun
from usageflow.pricing.rating import RatedEvent

_EVENT_TS = attrgetter("event.ts")
_EVENT = attrgetter("event")
_TS = attrgetter("ts")
_INPUT = attrgetter("input_tokens")
_OUTPUT = attrgetter("output_tokens")
_LATENCY = attrgetter("latency_ms")
_COST = attrgetter("list_cost")
_DATE = attrgetter("billing_date")
_US = timedelta(microseconds=1)


@dataclass(slots=True)
class BatchColumns:
    """A batch of fresh rated events, account after account, each account's in event-time order
    (stable: the walk's order), as the columns the rules read; `runs` gives each account's
    `[lo, hi)`."""

    events: list[RatedEvent]
    runs: list[tuple[str, int, int]]  # (account, lo, hi)
    times: list[datetime]  # ts
    days: list[str]  # local day of each event
    tokens: list[int]  # input + output
    costs: list[Decimal]  # list cost
    starts: list[int]  # µs since the epoch: ts − latency
    ends: list[int]  # µs since the epoch: ts

    @classmethod
    def of(cls, per_account: Mapping[str, list[RatedEvent]]) -> BatchColumns | None:
        """None when an event has a naive time or a negative latency: the walk refuses it."""
        ordered: list[RatedEvent] = []
        runs = []
        for account_id, events in per_account.items():
            runs.append((account_id, len(ordered), len(ordered) + len(events)))
            ordered += sorted(events, key=_EVENT_TS) if len(events) > 1 else events
        inner = list(map(_EVENT, ordered))
        latencies = list(map(_LATENCY, inner))
        if latencies and min(latencies) < 0:
            return None
        times = list(map(_TS, inner))
        try:
            ends = list(map(floordiv, map(sub, times, repeat(EPOCH)), repeat(_US)))
        except TypeError:  # naive minus aware
            return None
        dates: list[date] = list(map(_DATE, ordered))
        names = {d: d.isoformat() for d in set(dates)}
        return cls(
            events=ordered,
            runs=runs,
            times=times,
            days=list(map(names.__getitem__, dates)),
            tokens=list(map(add, map(_INPUT, inner), map(_OUTPUT, inner))),
            costs=list(map(_COST, ordered)),
            starts=list(map(sub, ends, map(mul, latencies, repeat(1000)))),
            ends=ends,
        )

    def walk_rows(self, lo: int, hi: int) -> list[WalkRow]:
        """The run `[lo, hi)` as the walk reads it."""
        return list(
            zip(
                self.times[lo:hi],
                self.days[lo:hi],
                self.tokens[lo:hi],
                self.costs[lo:hi],
                self.starts[lo:hi],
                self.ends[lo:hi],
                strict=True,
            )
        )


# what the walk reads of one event: (ts, local day, tokens, list cost, start µs, end µs)
WalkRow = tuple[datetime, str, int, Decimal, int, int]


def walk_row(event: LiveEvent) -> WalkRow:
    """A LiveEvent as the walk reads it (a naive time is refused here)."""
    end = to_us(event.ts)
    day = event.day or day_key(event.ts, event.tz)
    return (
        event.ts,
        day,
        event.input_tokens + event.output_tokens,
        event.list_cost,
        end - event.latency_ms * 1000,
        end,
    )


@dataclass(slots=True)
class QuietEnd:
    """The totals a quiet run leaves: tokens per day, tokens and list cost per month."""

    day_tokens: dict[str, int]
    month_tokens: dict[str, int]
    month_list_cost: dict[str, Decimal]
    min_start: int
    max_end: int
    requests: int


def end_totals(
    batch: BatchColumns,
    lo: int,
    hi: int,
    day_tokens: dict[str, int],
    month_tokens: dict[str, int],
    month_list_cost: dict[str, Decimal],
) -> QuietEnd:
    """The totals after the run `[lo, hi)`: each month's cost summed in event-time order from
    what is held, as the walk adds it (the same Decimal additions)."""
    days, tokens, costs = batch.days[lo:hi], batch.tokens[lo:hi], batch.costs[lo:hi]
    span = (min(batch.starts[lo:hi]), max(batch.ends[lo:hi]), hi - lo)
    first = days[0]
    if days.count(first) == len(days):  # the common case: one day
        month = first[:7]
        added = sum(tokens)
        return QuietEnd(
            {first: day_tokens.get(first, 0) + added},
            {month: month_tokens.get(month, 0) + added},
            {month: reduce(add, costs, month_list_cost.get(month, Decimal(0)))},
            *span,
        )
    end = QuietEnd({}, {}, {}, *span)
    for day, count, cost in zip(days, tokens, costs, strict=True):
        month = day[:7]
        end.day_tokens[day] = end.day_tokens.get(day, day_tokens.get(day, 0)) + count
        end.month_tokens[month] = end.month_tokens.get(month, month_tokens.get(month, 0)) + count
        end.month_list_cost[month] = end.month_list_cost.get(month, month_list_cost.get(month, Decimal(0))) + cost
    return end


def is_quiet(
    end: QuietEnd,
    run: RuleRun,
    concurrency: ConcurrencyTracker,
    estimator: BudgetEstimator | None,
    credit_check: CreditsCheck | None,
) -> bool:
    """No rule can fire while the run is applied (the bounds of the module docstring)."""
    for day, tokens in end.day_tokens.items():
        low = run.lowest_pending("daily_usage", day)
        if low is not None and tokens >= low:
            return False
    for month, tokens in end.month_tokens.items():
        low = run.lowest_pending("monthly_usage", month)
        if low is not None and tokens >= low:
            return False
        if estimator is not None:
            low = run.lowest_pending("budget", month)
            if low is not None and end.month_list_cost[month] >= estimator.cost_floor(low):
                return False
    if credit_check is not None:
        credit_check.bound_by(end.month_list_cost)
        if not credit_check.out_of_reach(end.month_list_cost):
            return False
    pending = [low for day in end.day_tokens if (low := run.lowest_pending("concurrency", day)) is not None]
    if pending:
        peak_bound = concurrency.overlapping_us(end.min_start, end.max_end) + end.requests
        if peak_bound >= min(pending):
            return False
    return True
