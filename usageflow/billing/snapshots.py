"""Rebuild the billing snapshots (sql/0170_billing_snapshots.sql) after their inputs change.

Each snapshot is rebuilt into a fresh table and swapped in with EXCHANGE TABLES, so readers
never see a half-built one. Two writers on one ClickHouse server can race (the one that
computed first may swap last); each rebuild therefore ends by comparing the snapshot with its
computing view and goes again while they differ, so the last writer always leaves a current
snapshot.
"""

from __future__ import annotations

import uuid

from usageflow.errors import WarehouseError
from usageflow.warehouse.client import Warehouse

PRICE_BOOK = ("price_book", "plan_options")
ACCOUNTS = ("accounts_current", "account_terms")
ALL = PRICE_BOOK + ACCOUNTS  # in dependency order: account_terms reads the other three
MAX_ROUNDS = 5


def refresh_snapshots(warehouse: Warehouse, names: tuple[str, ...] = ALL, only_stale: bool = False) -> None:
    """Rebuild the snapshots `names` (in the order of ALL) from their `_computed` views;
    `only_stale`: only those that differ from their view (one comparison each instead of a
    rebuild and a comparison)."""
    for name in (n for n in ALL if n in names):
        if only_stale and matches(warehouse, name):
            continue
        for _ in range(MAX_ROUNDS):
            _rebuild(warehouse, name)
            if matches(warehouse, name):
                break
        else:
            raise WarehouseError(f"the {name} snapshot kept changing under {MAX_ROUNDS} rebuilds; run it again")


def _rebuild(warehouse: Warehouse, name: str) -> None:
    staging = f"{name}_staging_{uuid.uuid4().hex[:12]}"
    warehouse.command(f"CREATE TABLE {staging} AS {name}_snapshot")
    try:
        warehouse.command(f"INSERT INTO {staging} SELECT * FROM {name}_computed")
        warehouse.command(f"EXCHANGE TABLES {staging} AND {name}_snapshot")
    finally:
        warehouse.command(f"DROP TABLE IF EXISTS {staging}")


def matches(warehouse: Warehouse, name: str) -> bool:
    """Whether the snapshot `name` holds exactly what its computing view returns now."""
    digest = "SELECT count(), sum(sipHash64(toString(tuple(*)))) FROM {}"  # toString: NULLs hash too
    rows = warehouse.query(
        f"SELECT ({digest.format(name + '_snapshot')}) = ({digest.format(name + '_computed')}) AS same"
    )
    return bool(rows[0]["same"])
