"""Live aggregates and alert rules (events.md): pure logic, no Kafka, Faust or warehouse.

The stream agents only move data: they turn rated events into `LiveEvent`s, feed a
`WindowAggregator` (1m / 1h / 1d windows, drained to the warehouse rollup) and one
`AccountLiveState` per account (day / month totals, concurrency, alerts fired once).
"""

from usageflow.alerting.concurrency import DEFAULT_RETENTION, ConcurrencyTracker
from usageflow.alerting.events import LiveEvent, as_live
from usageflow.alerting.periods import (
    Period,
    day_bounds,
    day_key,
    day_period,
    month_bounds,
    month_key,
    month_period,
)
from usageflow.alerting.rules import (
    DEFAULT_RULES,
    RULE_TYPES,
    AlertKey,
    BudgetEstimator,
    Limits,
    RuleConfig,
    account_limits,
    alert_id,
    alert_key,
    budget_estimate,
    level_str,
    make_alert,
)
from usageflow.alerting.state import AccountLiveState
from usageflow.alerting.windows import (
    DEFAULT_ALLOWED_LATENESS,
    GRANULARITIES,
    Granularity,
    WindowAggregator,
    WindowRow,
    is_late,
    window_bounds,
)

__all__ = [
    "DEFAULT_ALLOWED_LATENESS",
    "DEFAULT_RETENTION",
    "DEFAULT_RULES",
    "GRANULARITIES",
    "RULE_TYPES",
    "AccountLiveState",
    "AlertKey",
    "BudgetEstimator",
    "ConcurrencyTracker",
    "Granularity",
    "Limits",
    "LiveEvent",
    "Period",
    "RuleConfig",
    "WindowAggregator",
    "WindowRow",
    "account_limits",
    "alert_id",
    "alert_key",
    "as_live",
    "budget_estimate",
    "day_bounds",
    "day_key",
    "day_period",
    "is_late",
    "level_str",
    "make_alert",
    "month_bounds",
    "month_key",
    "month_period",
    "window_bounds",
]
