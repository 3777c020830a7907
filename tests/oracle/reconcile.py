"""The tests' reconciliation oracle (docs/pricing.md §14) in plain Python with exact rationals.

Written independently of the SQL views it checks (sql/views/reconcile_*_for.sql) and of
usageflow.billing.reconcile: it imports nothing from the package. Input is each account's
usage line of the month (from the billing oracle, tests/oracle/billing.py) and the month's
events as `Priced` rows; output is the JSON of `usageflow reconcile --format json`.

The rules, as docs/pricing.md §14 states them:
- an account's usage line U is split over its models in proportion to list cost, in whole fen:
  each model gets ⌊U·L_m/L⌋ fen, the fen left go one each to the largest remainders (equal
  remainders: model names ascending);
- a model's share splits into the part on events with a provider cost, share·L_with/L_m
  rounded to the fen with halves up, and the rest;
- provider cost and list cost are summed exactly and rounded once per output row, halves away
  from zero; margin = the part with a provider cost − the rounded provider cost.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any


@dataclass(frozen=True, slots=True)
class Priced:
    """One stored event (already deduplicated by event id)."""

    account_id: str
    model: str
    tokens: int
    list_cost: Decimal
    provider_cost: Decimal | None


def cents(value: Fraction) -> int:
    """To whole fen, halves away from zero."""
    magnitude = int(abs(value) * 100 + Fraction(1, 2))
    return -magnitude if value < 0 else magnitude


def text(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


@dataclass
class _Cell:
    tokens: int = 0
    events: int = 0
    unpriced: int = 0
    cost: Fraction = Fraction(0)
    cost_with: Fraction = Fraction(0)
    provider: Fraction = Fraction(0)
    share: int = 0  # fen
    share_with: int = 0  # fen

    def add(self, other: _Cell) -> None:
        self.tokens += other.tokens
        self.events += other.events
        self.unpriced += other.unpriced
        self.cost += other.cost
        self.cost_with += other.cost_with
        self.provider += other.provider
        self.share += other.share
        self.share_with += other.share_with


def _apportion(usage_fen: int, cells: Mapping[str, _Cell]) -> None:
    """The largest remainder split of one account's usage line over its models."""
    total = sum((c.cost for c in cells.values()), Fraction(0))
    if total == 0:
        return
    exact = {m: usage_fen * c.cost / total for m, c in cells.items()}
    floors = {m: int(v) for m, v in exact.items()}  # int() floors a non-negative rational
    left = usage_fen - sum(floors.values())
    order = sorted(cells, key=lambda m: (-(exact[m] - floors[m]), m))
    for rank, model in enumerate(order):
        cell = cells[model]
        cell.share = floors[model] + (1 if rank < left else 0)
        cell.share_with = int(cell.share * cell.cost_with / cell.cost + Fraction(1, 2)) if cell.cost else 0


def reconcile(
    usage_lines: Mapping[str, Decimal], events: Iterable[Priced], by_account: bool = False
) -> list[dict[str, Any]]:
    """`usage_lines`: account id -> its usage line of the month (an invoice amount)."""
    cells: dict[str, dict[str, _Cell]] = defaultdict(dict)
    for e in events:
        cell = cells[e.account_id].setdefault(e.model, _Cell())
        cell.tokens += e.tokens
        cell.events += 1
        cell.cost += Fraction(e.list_cost)
        if e.provider_cost is None:
            cell.unpriced += 1
        else:
            cell.cost_with += Fraction(e.list_cost)
            cell.provider += Fraction(e.provider_cost)
    for account, models in cells.items():
        _apportion(cents(Fraction(usage_lines[account])), models)
    rows: list[tuple[tuple[str, ...], _Cell]] = []
    if by_account:
        rows = [((a, m), c) for a in sorted(cells) for m, c in sorted(cells[a].items())]
    else:
        merged: dict[str, _Cell] = defaultdict(_Cell)
        for models in cells.values():
            for model, cell in models.items():
                merged[model].add(cell)
        rows = [((m,), c) for m, c in sorted(merged.items())]
    out = []
    for key, c in rows:
        provider = cents(c.provider)
        head = {"account_id": key[0]} if by_account else {}
        out.append(
            {
                **head,
                "model": key[-1],
                "tokens": c.tokens,
                "list_cost": text(cents(c.cost)),
                "billed": text(c.share),
                "provider_cost": text(provider),
                "margin": text(c.share_with - provider),
                "events_without_provider_cost": c.unpriced,
            }
        )
    return out
