"""The `credits_low` alert rule (docs/events.md §5): prepaid credits running out.

For an account and a local month, the grants that pay the month (unexpired at its end,
usageflow.pricing.credits) hold `available` of the `granted` total (what issued invoices of
other months drew is gone; the month's own draw, if it was issued already, is given back, so a
late event of an issued month is judged against the same money). The month's cost estimate is
the budget rule's: the invoice total the month-to-date usage gives. A level fires when

    remaining = max(available − estimate, 0) <= level × granted        (levels 0.2 and 0.0)

compared exactly. `value` is the remaining CNY, `limit` the granted amount, `percentage`
remaining / granted × 100. Every account with a grant that pays the month gets the rule, payg
accounts too (it is about money, like `budget`); an account without one never does.

Equivalently the estimate reaches `available − level × granted`, which lets the hot path ask
the budget estimator's cheap `may_reach` before computing an exact invoice total.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from usageflow.alerting.rules import BudgetEstimator, level_str, make_alert
from usageflow.pricing.credits import CreditPosition, GrantBalance, position
from usageflow.schemas import Alert

CREDITS_LOW: Literal["credits_low"] = "credits_low"
DEFAULT_LEVELS = (Decimal("0"), Decimal("0.2"))
FiredKey = tuple[str, str, str]  # (type, period, level text)


def crossed(pos: CreditPosition, estimate: Decimal, levels: Sequence[Decimal]) -> list[Decimal]:
    """The levels reached by `estimate`: remaining <= level × granted (exact)."""
    remaining = pos.remaining_after(estimate)
    return [level for level in levels if remaining <= level * pos.granted]


class CreditsCheck:
    """The rule for one account during one `apply`: positions per month, fired keys shared
    with the account's other rules."""

    def __init__(
        self,
        account_id: str,
        plan: str,
        balances: Sequence[GrantBalance],
        levels: Sequence[Decimal],
        estimator: Callable[[], BudgetEstimator],
        fired: set[FiredKey],
        now: datetime,
    ) -> None:
        self.account_id = account_id
        self.plan = plan
        self.balances = balances
        self.levels = sorted(levels)
        self._estimator_factory = estimator
        self._estimator: BudgetEstimator | None = None
        self.fired = fired
        self.now = now
        self._positions: dict[str, CreditPosition | None] = {}
        self._out_of_reach: set[str] = set()
        self.alerts: list[Alert] = []

    def bound_by(self, end_costs: dict[str, Decimal]) -> None:
        """Months whose estimate cannot reach the first pending level within this call, given the
        list cost each month holds at its end (costs only grow): skipped event by event."""
        for month, cost in end_costs.items():
            pos = self.position(month)
            pending = self._pending(month)
            if pos is None or not pending:
                continue
            if self._estimator is None:
                self._estimator = self._estimator_factory()
            if self._estimator.upper_bound(cost) < pos.available - pending[-1] * pos.granted:
                self._out_of_reach.add(month)

    def out_of_reach(self, months: Iterable[str]) -> bool:
        """After `bound_by`: no level of these months can fire in this call (what `check`
        returns early on for each of them)."""
        for month in months:
            if month in self._out_of_reach:
                continue
            pos = self.position(month)
            if pos is not None and pos.granted > 0 and self._pending(month):
                return False
        return True

    def position(self, month: str) -> CreditPosition | None:
        if month not in self._positions:
            self._positions[month] = position(self.balances, month)
        return self._positions[month]

    def _pending(self, month: str) -> list[Decimal]:
        return [lv for lv in self.levels if (CREDITS_LOW, month, level_str(lv)) not in self.fired]

    def check(self, month: str, tokens: int, list_cost: Decimal, at: datetime, exact: bool = False) -> None:
        """After an event of `month` (the month now holds `tokens` of `list_cost`)."""
        if month in self._out_of_reach and not exact:
            return
        pos = self.position(month)
        if pos is None or pos.granted <= 0:
            return
        pending = self._pending(month)
        if not pending:
            return
        if self._estimator is None:
            self._estimator = self._estimator_factory()
        threshold = pos.available - pending[-1] * pos.granted  # the highest level is reached first
        if not exact and not self._estimator.may_reach(tokens, list_cost, threshold):
            return
        estimate = self._estimator(tokens, list_cost)
        remaining = pos.remaining_after(estimate)
        for level in crossed(pos, estimate, pending):
            self.fired.add((CREDITS_LOW, month, level_str(level)))
            self.alerts.append(
                make_alert(
                    account_id=self.account_id,
                    rule_type=CREDITS_LOW,
                    period=month,
                    level=level,
                    value=remaining,
                    limit=Fraction(pos.granted),
                    triggered_at=at,
                    emitted_at=self.now,
                    plan=self.plan,
                )
            )
