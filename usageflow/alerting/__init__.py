"""Live aggregates and alert rules: pure logic, no Kafka, Faust or warehouse.

The stream agents only move data: `LiveEngine` turns a batch of newly stored rated events
into `LiveEvent`s and feeds one `AccountLiveState` per account (day / month totals,
concurrency, alerts fired once). Windowed usage is the pipeline's windows step (usageflow.windows).
"""

from usageflow.alerting.concurrency import DEFAULT_RETENTION, ConcurrencyTracker
from usageflow.alerting.events import LiveEvent, as_live
from usageflow.alerting.lateness import DEFAULT_ALLOWED_LATENESS, is_late
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

__all__ = [
    "DEFAULT_ALLOWED_LATENESS",
    "DEFAULT_RETENTION",
    "DEFAULT_RULES",
    "RULE_TYPES",
    "AccountLiveState",
    "AlertKey",
    "BudgetEstimator",
    "ConcurrencyTracker",
    "Limits",
    "LiveEvent",
    "Period",
    "RuleConfig",
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
]
