"""Before a read: is there a migrated warehouse, and is the account one it knows?

A read never creates a warehouse. Opening a chDB path or a server database for a query would
create it empty and then fail deep inside ClickHouse (`Unknown table function …`); these checks
answer with what to run instead (docs/cli.md §5).
"""

from __future__ import annotations

from pathlib import Path

from clickhouse_connect.driver.exceptions import ClickHouseError

from usageflow.billing.access import run_query
from usageflow.errors import UsageflowError, WarehouseError
from usageflow.warehouse.client import WarehouseTarget, _locked_by_another_process, connect_client, parse_warehouse_url
from usageflow.warehouse.migrate import discover


class NotMigratedError(WarehouseError):
    """There is no warehouse at the configured place yet, or it was never migrated."""


class UnknownAccountError(UsageflowError):
    """The account id is neither loaded nor seen in any event."""


def require_migrated(url: str) -> None:
    """Raise NotMigratedError unless the warehouse exists and has every shipped migration."""
    target = parse_warehouse_url(url)
    where = target.describe()
    if target.kind == "chdb":
        assert target.path is not None
        if not (target.path / "metadata").is_dir():  # what every chDB path has once opened
            raise NotMigratedError(
                f"no warehouse at {where}: run `usageflow migrate` first (or point USAGEFLOW_WAREHOUSE at yours)"
            )
        if _locked_by_another_process(target.path):
            return  # a running worker holds it: it migrated it when it started
    applied = _applied_versions(target)
    if applied is None:
        raise NotMigratedError(f"warehouse {where} has no usageflow tables: run `usageflow migrate` first")
    missing = [m.version for m in discover() if m.version not in applied]
    if missing:
        raise NotMigratedError(
            f"warehouse {where} misses {len(missing)} migration(s) (first {missing[0]}): run `usageflow migrate`"
        )


def require_known_account(url: str, data_dir: Path, account: str) -> None:
    found = run_query(url, data_dir, "account_known", account=account)
    if not found.get("known"):
        raise UnknownAccountError(
            f"unknown account {account!r}: no account of that id was loaded and no event names it "
            "(check the id, or `usageflow accounts load FILE`)"
        )


def _applied_versions(target: WarehouseTarget) -> set[str] | None:
    """The versions in the migration ledger, or None when there is no ledger (or no database)."""
    try:
        client = connect_client(target)
    except Exception as exc:
        raise WarehouseError(f"cannot open warehouse {target.describe()}: {_first_line(exc)}") from exc
    try:
        tables = client.query(
            "SELECT count() FROM system.tables WHERE database = {db:String} AND name = 'schema_migrations'",
            parameters={"db": target.database},
        ).result_rows
        if not tables or not tables[0][0]:
            return None
        rows = client.query(f"SELECT version FROM `{target.database}`.schema_migrations FINAL").result_rows
        return {r[0] for r in rows}
    except ClickHouseError as exc:
        raise WarehouseError(f"cannot read warehouse {target.describe()}: {_first_line(exc)}") from exc
    finally:
        client.close()


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__
