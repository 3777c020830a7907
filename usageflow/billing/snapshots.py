"""Rebuild the billing snapshots after their inputs change.

price_book, plan_options, accounts_current, account_terms and billing_terms are each defined in one file of
sql/views/: the view `<name>_computed` computes the rows, the table `<name>_snapshot` holds its
last result and the view `<name>` reads that table. Only usageflow.billing.tables writes their
inputs, and it calls `refresh_snapshots` after every write.

Each snapshot is rebuilt into a fresh table (shaped like the computing view now, so a rebuild
also follows a changed definition) and swapped in with EXCHANGE TABLES, so readers never see a
half-built one. Two writers on one ClickHouse server can race (the one that computed first may
swap last); each rebuild therefore ends by comparing the snapshot with its computing view and
goes again while they differ, so the last writer always leaves a current snapshot. On a
cluster the snapshots are views (usageflow.warehouse.cluster): always current, nothing to do.
"""

from __future__ import annotations

import uuid

from usageflow.errors import WarehouseError
from usageflow.warehouse.client import Warehouse

PRICE_BOOK = ("price_book", "plan_options")
ACCOUNTS = ("accounts_current", "account_terms", "billing_terms")
ALL = PRICE_BOOK + ACCOUNTS  # in dependency order: account_terms reads the three before it, billing_terms it
MAX_ROUNDS = 5
SNAPSHOT_ENGINE = "MergeTree ORDER BY tuple()"  # as in sql/views/<name>.sql


def refresh_snapshots(warehouse: Warehouse, names: tuple[str, ...] = ALL, only_stale: bool = False) -> None:
    """Rebuild the snapshots `names` (in the order of ALL) from their `_computed` views;
    `only_stale`: only those that differ from their view (one comparison each instead of a
    rebuild and a comparison)."""
    stored = _stored_as_tables(warehouse)
    for name in (n for n in ALL if n in names and n in stored):
        if only_stale and matches(warehouse, name):
            continue
        for _ in range(MAX_ROUNDS):
            _rebuild(warehouse, name)
            if matches(warehouse, name):
                break
        else:
            raise WarehouseError(f"the {name} snapshot kept changing under {MAX_ROUNDS} rebuilds; run it again")


def _stored_as_tables(warehouse: Warehouse) -> set[str]:
    rows = warehouse.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND name IN {names:Array(String)} AND engine != 'View'",
        {"names": [f"{n}_snapshot" for n in ALL]},
    )
    return {str(r["name"]).removesuffix("_snapshot") for r in rows}


def _rebuild(warehouse: Warehouse, name: str) -> None:
    staging = f"{name}_staging_{uuid.uuid4().hex[:12]}"
    try:
        warehouse.command(f"CREATE TABLE {staging} ENGINE = {SNAPSHOT_ENGINE} AS SELECT * FROM {name}_computed")
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
