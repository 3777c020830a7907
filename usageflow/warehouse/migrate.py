"""Bring a warehouse's schema up to date from the SQL files shipped in usageflow.sql.

* `sql/NNNN_name.sql`, **versioned**: tables. Applied once each, in order, and recorded in the
  ledger table `schema_migrations`. Every statement must be safe to run again
  (`CREATE TABLE IF NOT EXISTS`, `ALTER TABLE … IF [NOT] EXISTS`); `discover` refuses others.
* `sql/functions/<name>.sql` and `sql/views/<name>.sql`, **repeatable**: the final definition
  of each SQL function and each view (`CREATE OR REPLACE`; a snapshot-backed view's file also
  holds its snapshot table). Re-applied whenever its checksum, or that of a definition it
  reads, differs from the ledger, in dependency order (found from the names each file uses).

A migrate cut at any statement leaves nothing that stops the next one: every statement can run
again, and a file is recorded only after all its statements ran. Two processes migrating at
once run the same idempotent statements (ClickHouse serialises DDL per object) and record the
same ledger rows (a ReplacingMergeTree: duplicates collapse), so no lock is needed.
docs/design.md, "Migrations", says more.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable

from usageflow.config import WarehouseSettings
from usageflow.errors import ConfigError, WarehouseError
from usageflow.warehouse import sql_text
from usageflow.warehouse.client import Warehouse
from usageflow.warehouse.cluster import checked_cluster_name, on_cluster

SQL_DIR: Traversable = files("usageflow.sql")  # shipped in the package: works from a wheel too
_VERSIONED = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_REPEATABLE = re.compile(r"^[a-z][a-z0-9_]*\.sql$")
_REPEATABLE_DIRS = ("functions", "views")  # functions first: views call them
_RERUNNABLE = re.compile(
    r"^(CREATE TABLE IF NOT EXISTS\s"
    r"|ALTER TABLE \w+\s+(ADD|DROP|MODIFY|COMMENT|RENAME) (COLUMN|INDEX|PROJECTION) IF (NOT )?EXISTS\s)",
    re.IGNORECASE,
)
_CHECKSUM_PREFIX = "stmt-sha256:"  # ledger rows without it hold whole-file checksums (before repeatables)

LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    String,
    checksum   String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY version
"""


@dataclass(frozen=True)
class Migration:
    """One SQL file. `version` is its ledger key: `NNNN_name` (versioned) or `views/name`."""

    version: str
    sql: str
    repeatable: bool
    statements: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "statements", tuple(sql_text.statements(self.sql)))

    @property
    def defines(self) -> set[str]:
        return {n for n in map(sql_text.defined_name, self.statements) if n}

    @property
    def uses(self) -> set[str]:
        used: set[str] = set()
        for statement in self.statements:
            used |= sql_text.identifiers(statement)
        return used - self.defines

    def rendered(self, cluster: str | None, database: str) -> list[str]:
        """The statements to run: as written, or their ON CLUSTER form."""
        if cluster is None:
            return list(self.statements)
        return [out for s in self.statements for out in on_cluster(s, cluster, database)]

    def checksum(self, cluster: str | None = None, database: str = "") -> str:
        """Of the statements as run (comments and blank lines do not count)."""
        text = "\n;\n".join(self.rendered(cluster, database))
        return _CHECKSUM_PREFIX + hashlib.sha256(text.encode()).hexdigest()


def discover(sql_dir: Traversable = SQL_DIR) -> list[Migration]:
    """Versioned migrations in order, then the repeatable ones in dependency order."""
    versioned = []
    for path in sorted((p for p in sql_dir.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name):
        if not _VERSIONED.match(path.name):
            raise WarehouseError(f"migration file {path.name} must be named NNNN_snake_case.sql")
        migration = Migration(path.name.removesuffix(".sql"), path.read_text(encoding="utf-8"), repeatable=False)
        for n, statement in enumerate(migration.statements, 1):
            if not _RERUNNABLE.match(statement):
                raise WarehouseError(
                    f"migration {path.name}, statement {n}: not safe to run again; versioned files hold "
                    "CREATE TABLE IF NOT EXISTS or ALTER TABLE … IF [NOT] EXISTS (views go to sql/views/)"
                )
        versioned.append(migration)
    if not versioned:
        raise WarehouseError("no migrations found in the installed package (usageflow.sql): reinstall usageflow")
    repeatable = []
    for folder in _REPEATABLE_DIRS:
        directory = sql_dir.joinpath(folder)
        if not directory.is_dir():
            continue
        for path in sorted((p for p in directory.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name):
            if not _REPEATABLE.match(path.name):
                raise WarehouseError(f"definition file {folder}/{path.name} must be named snake_case.sql")
            sql = path.read_text(encoding="utf-8")
            repeatable.append(Migration(f"{folder}/{path.name.removesuffix('.sql')}", sql, repeatable=True))
    return versioned + dependency_order(repeatable)


def dependency_order(migrations: Iterable[Migration]) -> list[Migration]:
    """`migrations` so that each comes after every one defining a name it uses (stable by name)."""
    pending = list(migrations)
    owner = {name: m.version for m in pending for name in m.defines}
    needs = {m.version: {owner[n] for n in m.uses if n in owner} - {m.version} for m in pending}
    ordered: list[Migration] = []
    placed: set[str] = set()
    while pending:
        ready = [m for m in pending if needs[m.version] <= placed]
        if not ready:
            raise WarehouseError(f"definitions use each other in a cycle: {sorted(m.version for m in pending)}")
        for m in ready:
            ordered.append(m)
            placed.add(m.version)
        pending = [m for m in pending if m.version not in placed]
    return ordered


def dependents(migrations: list[Migration], changed: set[str]) -> set[str]:
    """`changed` plus every repeatable migration that reads one of them, transitively."""
    owner = {name: m.version for m in migrations for name in m.defines}
    result = set(changed)
    for m in migrations:  # dependency order: what m reads is decided before m
        if any(owner.get(n) in result for n in m.uses):
            result.add(m.version)
    return result


def applied(warehouse: Warehouse, cluster: str | None = None) -> dict[str, str]:
    for statement in _ledger_ddl(cluster, warehouse.database):
        warehouse.command(statement)
    rows = warehouse.query("SELECT version, checksum FROM schema_migrations FINAL")
    return {r["version"]: r["checksum"] for r in rows}


def _ledger_ddl(cluster: str | None, database: str) -> list[str]:
    statement = sql_text.normalise(LEDGER_DDL)
    return [statement] if cluster is None else on_cluster(statement, cluster, database)


def configured_cluster(warehouse: Warehouse) -> str | None:
    """USAGEFLOW_CLICKHOUSE_CLUSTER, checked against the warehouse (chDB is one process)."""
    cluster = checked_cluster_name(WarehouseSettings().clickhouse_cluster)
    if cluster is not None and warehouse.kind == "chdb":
        raise ConfigError("USAGEFLOW_CLICKHOUSE_CLUSTER needs a ClickHouse server; chDB is embedded (unset it)")
    return cluster


def migrate(
    warehouse: Warehouse,
    sql_dir: Traversable = SQL_DIR,
    cluster: str | None = None,
) -> list[str]:
    """Apply what is pending; return the versions applied now (empty when up to date).
    `cluster`: emit ON CLUSTER DDL for that cluster (default: USAGEFLOW_CLICKHOUSE_CLUSTER)."""
    cluster = checked_cluster_name(cluster) or configured_cluster(warehouse)
    migrations = discover(sql_dir)
    done = applied(warehouse, cluster)
    database = warehouse.database
    newly: list[str] = []
    for m in (m for m in migrations if not m.repeatable):
        checksum = m.checksum(cluster, database)
        if m.version in done:
            if not done[m.version].startswith(_CHECKSUM_PREFIX):  # applied before statement checksums
                _record(warehouse, m.version, checksum)
            continue
        _run(warehouse, m, cluster)
        _record(warehouse, m.version, checksum)
        newly.append(m.version)
    repeatable = [m for m in migrations if m.repeatable]
    if newly:  # a table changed: every definition is applied again, so each is checked against it
        due = {m.version for m in repeatable}
    else:
        changed = {m.version for m in repeatable if done.get(m.version) != m.checksum(cluster, database)}
        due = dependents(repeatable, changed)
    for m in (m for m in repeatable if m.version in due):
        _run(warehouse, m, cluster)
        _record(warehouse, m.version, m.checksum(cluster, database))
        newly.append(m.version)
    return newly


def _run(warehouse: Warehouse, migration: Migration, cluster: str | None) -> None:
    for statement in migration.rendered(cluster, warehouse.database):
        try:
            warehouse.command(statement)
        except WarehouseError as exc:
            raise WarehouseError(f"migration {migration.version} failed: {exc}") from exc
        if statement.upper().startswith("CREATE FUNCTION"):
            _check_function(warehouse, statement, migration.version)


def _check_function(warehouse: Warehouse, statement: str, version: str) -> None:
    """A function name is global to the server: one that exists with another body is refused."""
    name = sql_text.defined_name(statement)
    plain = re.sub(r"^CREATE FUNCTION IF NOT EXISTS", "CREATE FUNCTION", statement, flags=re.IGNORECASE)
    plain = re.sub(r"\s+ON CLUSTER \w+", "", plain, count=1)
    rows = warehouse.query(
        "SELECT create_query = formatQuery({mine:String}) AS same FROM system.functions WHERE name = {name:String}",
        {"mine": plain, "name": name},
    )
    if rows and not rows[0]["same"]:
        raise WarehouseError(
            f"migration {version}: function {name} exists on this server with another definition "
            "(functions are shared by all databases; a changed function needs a new name, e.g. _v2)"
        )


def _record(warehouse: Warehouse, version: str, checksum: str) -> None:
    warehouse.insert_rows("schema_migrations", [[version, checksum]], ["version", "checksum"])


def changed_since_applied(warehouse: Warehouse, sql_dir: Traversable = SQL_DIR) -> list[str]:
    """Versioned migrations whose file no longer matches what was applied (a new migration is
    the fix; repeatable ones are simply applied again by migrate)."""
    cluster = configured_cluster(warehouse)
    done = applied(warehouse, cluster)
    return [
        m.version
        for m in discover(sql_dir)
        if not m.repeatable and m.version in done and done[m.version] != m.checksum(cluster, warehouse.database)
    ]
