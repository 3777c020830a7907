"""What the alert rules compare against for one account's terms, and one `apply` call's run.

`shared_terms` gives an account's limits, per rule its limit and ascending levels (as exact
thresholds), and the budget estimator, built once for all accounts on the same terms.
`RuleRun` collects the alerts of one call against them.
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from usageflow.alerting.rules import (
    RULE_TYPES,
    BudgetEstimator,
    Limits,
    RuleConfig,
    account_limits,
    level_str,
    make_alert,
)
from usageflow.pricing.price_book import PriceBook
from usageflow.schemas import Account, Alert, AlertType

FiredKey = tuple[str, str, str]  # (type, period, level) of one account

# per rule: (limit, ascending [(level text, level, threshold, floor of the threshold)])
Rules = dict[AlertType, tuple[Fraction, list[tuple[str, Decimal, Fraction, int]]]]
Terms = tuple[Limits, Rules, "BudgetEstimator | None"]
_SHARED_TERMS: dict[tuple[Any, ...], tuple[PriceBook, RuleConfig, Terms]] = {}
_SHARED_TERMS_MAX = 4096


def shared_terms(account: Account | None, book: PriceBook, config: RuleConfig) -> Terms:
    """Limits, thresholds and the budget estimator of an account's terms, built once for all
    accounts with the same billing fields (everything of the record but its id) under the same
    price book and rules: building them costs ~0.3 ms, and a worker sees each of 20,000
    accounts, mostly on a handful of plans. The entries are immutable once built."""
    key = (id(book), id(config), None if account is None else billing_fields(account))
    entry = _SHARED_TERMS.get(key)
    if entry is not None and entry[0] is book and entry[1] is config:  # ids are reused only after a free
        return entry[2]
    limits = account_limits(account, book)
    estimator = BudgetEstimator(book, account) if limits.limit("budget") is not None else None
    terms = (limits, rule_levels(limits, config), estimator)
    if len(_SHARED_TERMS) >= _SHARED_TERMS_MAX:
        _SHARED_TERMS.clear()
    _SHARED_TERMS[key] = (book, config, terms)
    return terms


def billing_fields(account: Account) -> tuple[tuple[str, Any], ...]:
    """Every field of the record but its id, as (name, value) in field order: the key of the
    terms it shares (the instance's own values; `model_dump` took ~60 µs an account)."""
    return tuple((name, value) for name, value in vars(account).items() if name != "account_id")


def rule_levels(limits: Limits, config: RuleConfig) -> Rules:
    """Per rule: its limit and the ascending (level text, level, threshold) list."""
    rules: Rules = {}
    for rule_type in RULE_TYPES:
        limit = limits.limit(rule_type)
        if limit is None:  # payg: only budget; no budget: no budget rule
            continue
        thresholds = [(lv, Fraction(lv) * limit) for lv in config.levels(rule_type)]
        levels = [(level_str(lv), lv, t, math.floor(t)) for lv, t in thresholds]
        if levels:
            rules[rule_type] = (limit, levels)
    return rules


class RuleRun:
    """One `apply` call of one account: alerts collected against precomputed thresholds,
    recorded in the account's fired keys as they fire."""

    def __init__(self, account_id: str, fired: set[FiredKey], limits: Limits, rules: Rules, now: datetime) -> None:
        self.account_id = account_id
        self.fired = fired
        self.limits = limits
        self.now = now
        self.alerts: list[Alert] = []
        self.rules = rules

    def lowest_pending(self, rule_type: AlertType, period: str) -> Fraction | None:
        """The smallest threshold (level × limit) of the rule not yet fired in the period."""
        rule = self.rules.get(rule_type)
        if rule is None:
            return None
        fired = self.fired
        for text, _, threshold, _ in rule[1]:  # levels ascend
            if (rule_type, period, text) not in fired:
                return threshold
        return None

    def check(self, rule_type: AlertType, period: str, value: int | Decimal, at: datetime) -> None:
        rule = self.rules.get(rule_type)
        if rule is None:
            return
        limit, levels = rule
        if value < levels[0][3]:  # below the floor of the lowest threshold: the common case
            return
        fired = self.fired
        for text, level, threshold, _ in levels:  # ascending: stop at the first not reached
            if value < threshold:  # int / Decimal vs Fraction compare exactly
                break
            key = (rule_type, period, text)
            if key in fired:
                continue
            fired.add(key)
            self.alerts.append(
                make_alert(
                    account_id=self.account_id,
                    rule_type=rule_type,
                    period=period,
                    level=level,
                    value=value,
                    limit=limit,
                    triggered_at=at,
                    emitted_at=self.now,
                    plan=self.limits.plan,
                )
            )
