"""Apply `sql/NNNN_name.sql` in order, once each; a ledger table records what was applied.

A file may hold several statements separated by `;` at the end of a line. Files are applied
whole; a file that changed after it was applied is reported, never silently re-run.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

from usageflow.errors import WarehouseError
from usageflow.warehouse.client import Warehouse

SQL_DIR: Traversable = files("usageflow.sql")  # shipped in the package: works from a wheel too
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

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
    version: str
    path: Traversable
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self) -> list[str]:
        parts = re.split(r";\s*(?:\n|$)", self.sql)
        return [p.strip() for p in parts if _has_code(p)]


def _has_code(text: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in text.splitlines())


def discover(sql_dir: Traversable = SQL_DIR) -> list[Migration]:
    found = []
    for path in sorted((p for p in sql_dir.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name):
        if not _NAME.match(path.name):
            raise WarehouseError(f"migration file {path.name} must be named NNNN_snake_case.sql")
        found.append(Migration(path.name.removesuffix(".sql"), path, path.read_text(encoding="utf-8")))
    if not found:
        raise WarehouseError("no migrations found in the installed package (usageflow.sql): reinstall usageflow")
    return found


def applied(warehouse: Warehouse) -> dict[str, str]:
    warehouse.command(LEDGER_DDL)
    rows = warehouse.query("SELECT version, checksum FROM schema_migrations FINAL")
    return {r["version"]: r["checksum"] for r in rows}


def migrate(warehouse: Warehouse, sql_dir: Traversable = SQL_DIR) -> list[str]:
    """Apply what is pending; return the versions applied now (empty when up to date)."""
    done = applied(warehouse)
    newly: list[str] = []
    for migration in discover(sql_dir):
        if migration.version in done:
            continue
        for statement in migration.statements():
            try:
                warehouse.command(statement)
            except WarehouseError as exc:
                raise WarehouseError(f"migration {migration.path.name} failed: {exc}") from exc
        warehouse.insert_rows("schema_migrations", [[migration.version, migration.checksum]], ["version", "checksum"])
        newly.append(migration.version)
    return newly


def changed_since_applied(warehouse: Warehouse, sql_dir: Traversable = SQL_DIR) -> list[str]:
    """Versions whose file no longer matches what was applied (a new migration is the fix)."""
    done = applied(warehouse)
    return [m.version for m in discover(sql_dir) if m.version in done and done[m.version] != m.checksum]
