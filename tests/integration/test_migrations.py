"""Migrations against real chDB: cut at every statement, run twice at once, upgrade a database
made by the previous layout (including one whose old snapshot migration was cut halfway), and
the ON CLUSTER DDL parsed by the engine."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from usageflow.billing import queries, snapshots
from usageflow.billing.tables import ACCOUNT_COLUMNS, load_price_book, upsert_accounts
from usageflow.errors import WarehouseError
from usageflow.pricing.price_book import PriceBook
from usageflow.schemas import Account
from usageflow.warehouse import Warehouse, open_warehouse
from usageflow.warehouse.migrate import discover, migrate
from usageflow.warehouse.sql_text import statements

pytestmark = pytest.mark.integration

LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_sql"
BOOK = PriceBook()


class CutWarehouse(Warehouse):
    """A real warehouse whose connection 'drops' after `allowed` writes (DDL or inserts)."""

    def __init__(self, inner: Warehouse, allowed: int) -> None:
        super().__init__(inner._client, inner.target, inner.database)
        self.allowed = allowed
        self.writes = 0

    def _tick(self) -> None:
        if self.writes >= self.allowed:
            raise WarehouseError("connection dropped (injected)")
        self.writes += 1

    def command(self, sql: str, parameters: Any = None) -> Any:
        self._tick()
        return super().command(sql, parameters)

    def insert_rows(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        self._tick()
        super().insert_rows(table, rows, columns)


def schema(wh: Warehouse) -> dict[str, tuple[str, str]]:
    """Every object of the database: engine and definition (database name taken out)."""
    rows = wh.query("SELECT name, engine, create_table_query FROM system.tables WHERE database = currentDatabase()")
    return {r["name"]: (r["engine"], r["create_table_query"].replace(f"{wh.database}.", "db.")) for r in rows}


def ledger(wh: Warehouse) -> dict[str, str]:
    rows = wh.query("SELECT version, checksum FROM schema_migrations FINAL")
    return {r["version"]: r["checksum"] for r in rows}


FUNCTIONS = sorted(n for m in discover() if m.version.startswith("functions/") for n in m.defines)


def current_versions() -> set[str]:
    return {m.version for m in discover()}


@pytest.fixture
def clean(warehouse_factory: Callable[..., Warehouse]) -> Warehouse:
    return warehouse_factory()


def cut_and_migrate_again(warehouse_factory: Callable[..., Warehouse], clean: Warehouse, stride: int) -> None:
    """Cut the connection after every `stride`-th write of a migration (and after the last
    one), then check that migrating again completes the schema and the ledger."""
    probe = CutWarehouse(warehouse_factory(migrated=False), allowed=10_000)
    migrate(probe)
    total = probe.writes
    assert total > 40  # ledger, 8 tables, 3 functions, 19 view files (4 with 3 statements), their ledger rows
    expected = schema(clean)
    for allowed in sorted({*range(0, total, stride), total - 1}):
        cut = CutWarehouse(warehouse_factory(migrated=False), allowed)
        with pytest.raises(WarehouseError, match="injected"):
            migrate(cut)
        fresh = Warehouse(cut._client, cut.target, cut.database)
        migrate(fresh)
        assert schema(fresh) == expected, f"cut after {allowed} writes"
        assert set(ledger(fresh)) == current_versions()
        assert migrate(fresh) == []
        fresh.command(f"DROP DATABASE IF EXISTS `{fresh.database}`")


def test_cut_at_every_fifth_write_then_migrate_again(
    warehouse_factory: Callable[..., Warehouse], clean: Warehouse
) -> None:
    cut_and_migrate_again(warehouse_factory, clean, stride=5)


@pytest.mark.faults  # every write: ~130 cuts, two minutes, so in the fault suite
def test_cut_at_every_write_then_migrate_again(warehouse_factory: Callable[..., Warehouse], clean: Warehouse) -> None:
    cut_and_migrate_again(warehouse_factory, clean, stride=1)


def migrate_together(workers: list[Warehouse]) -> list[BaseException]:
    """Run migrate on every warehouse at once (threads released by one barrier)."""
    start = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def run(wh: Warehouse) -> None:
        start.wait()
        try:
            migrate(wh)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(wh,)) for wh in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


def test_two_migrations_at_once(warehouse_url: str, clean: Warehouse) -> None:
    expected = schema(clean)
    for round_no in range(3):
        database = f"{clean.database}_twice{round_no}"
        workers = [open_warehouse(warehouse_url, database=database) for _ in range(2)]
        for name in FUNCTIONS:  # global: dropped so that both create them too
            workers[0].command(f"DROP FUNCTION IF EXISTS {name}")
        errors = migrate_together(workers)
        try:
            assert errors == []
            assert schema(workers[0]) == expected
            assert set(ledger(workers[0])) == current_versions()
            load_price_book(workers[1], BOOK)
            upsert_accounts(workers[0], [Account(account_id="a", plan="starter")])
            (invoice,) = queries.invoices(workers[1], "2026-11", "a")
            assert (invoice.plan, str(invoice.total)) == ("starter", "299.00")
        finally:
            workers[0].command(f"DROP DATABASE IF EXISTS `{database}`")
            for wh in workers:
                wh.close()


def apply_legacy(wh: Warehouse, stop_in: str | None = None, after: int = 0) -> None:
    """What the previous migrate did with the previous files: each file whole, then its row.
    `stop_in`/`after`: the connection drops in that file after `after` statements."""
    import hashlib

    wh.command(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version String, checksum String, "
        "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY version"
    )
    for path in sorted(LEGACY.glob("*.sql")):
        text = path.read_text()
        for n, statement in enumerate(statements(text)):
            if path.stem == stop_in and n == after:
                return
            wh.command(statement)
        checksum = hashlib.sha256(text.encode()).hexdigest()
        wh.insert_rows("schema_migrations", [[path.stem, checksum]], ["version", "checksum"])


def rated_row(event_id: str, account_id: str) -> list[Any]:
    ts = datetime(2026, 11, 10, 4, 0, tzinfo=UTC)
    price = BOOK.input_per_1k("qwen-max")
    return [
        event_id,
        account_id,
        "k1",
        "qwen-max",
        "",
        "",
        "",
        1000,
        0,
        ts,
        10,
        price,
        price,
        1,
        1,
        price,
        "Asia/Shanghai",
        "2026-11",
        ts.date(),
        "",
        ts,
    ]


RATED_COLUMNS = [
    "event_id", "account_id", "api_key_id", "model", "region", "feature", "user_id", "input_tokens",
    "output_tokens", "ts", "latency_ms", "input_per_1k", "output_per_1k", "region_multiplier",
    "off_peak_multiplier", "list_cost", "billing_tz", "billing_month", "billing_date", "extra", "ingested_at",
]  # fmt: skip


def test_upgrade_from_the_previous_layout_keeps_the_data(
    warehouse_factory: Callable[..., Warehouse], clean: Warehouse
) -> None:
    """A database the previous release made and filled: migrate makes its schema equal to a
    clean one; the stored rows stay and are billed."""
    old = warehouse_factory(migrated=False)
    apply_legacy(old)
    account = ["p", "starter", 0, 0, False, 0, False, None, None, datetime.now(UTC), 0]
    old.insert_rows("accounts", [account], ACCOUNT_COLUMNS)
    old.insert_rows("rated_events", [rated_row("e1", "p"), rated_row("e2", "u")], RATED_COLUMNS)
    assert "views/invoice_base_for" in migrate(old)
    assert schema(old) == schema(clean)
    assert set(ledger(old)) >= current_versions()
    load_price_book(old, BOOK)  # as `usageflow migrate` and the worker do after migrating
    got = {i.account_id: (i.plan, i.tokens, str(i.total)) for i in queries.invoices(old, "2026-11")}
    assert got["p"] == ("starter", 1000, "299.00")
    assert got["u"][:2] == ("payg", 1000)
    assert all(snapshots.matches(old, n) for n in snapshots.ALL)
    assert migrate(old) == []


LEGACY_SNAPSHOT_STATEMENTS = len(statements((LEGACY / "0170_billing_snapshots.sql").read_text()))


@pytest.mark.parametrize("cut", range(LEGACY_SNAPSHOT_STATEMENTS))
def test_upgrade_after_the_old_snapshot_migration_was_cut(
    warehouse_factory: Callable[..., Warehouse], clean: Warehouse, cut: int
) -> None:
    """The reported failure: the previous 0170 cut after `cut` statements (price_book renamed
    to price_book_computed, no new price_book yet, ...). The next migrate repairs it."""
    old = warehouse_factory(migrated=False)
    apply_legacy(old, stop_in="0170_billing_snapshots", after=cut)
    old.insert_rows("rated_events", [rated_row("e1", "p")], RATED_COLUMNS)
    migrate(old)
    assert schema(old) == schema(clean)
    load_price_book(old, BOOK)
    upsert_accounts(old, [Account(account_id="p", plan="starter")])
    (invoice,) = queries.invoices(old, "2026-11", "p")
    assert (invoice.plan, invoice.tokens, str(invoice.total)) == ("starter", 1000, "299.00")


def test_cluster_ddl_parses(clean: Warehouse) -> None:
    """No cluster runs here: every ON CLUSTER statement is parsed and formatted by the engine."""
    rendered = [s for m in discover() for s in m.rendered("analytics", "usageflow")]
    assert all(" ON CLUSTER analytics" in s.split("\n", 1)[0] for s in rendered)
    for statement in rendered:
        formatted = clean.query("SELECT formatQuery({s:String}) AS f", {"s": statement})[0]["f"]
        assert "ON CLUSTER analytics" in formatted
    tables = {s.split()[5]: s for s in rendered if s.startswith("CREATE TABLE IF NOT EXISTS")}
    assert (
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}'" in tables["rated_events_local"]
    )
    assert (
        "Distributed('analytics', 'usageflow', 'rated_events_local', cityHash64(account_id))" in tables["rated_events"]
    )
    assert "alerts_local" in tables
    assert (
        "ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}', updated_at)"
        in (tables["accounts"])
    )
    assert not any(s.startswith("CREATE OR REPLACE TABLE") for s in rendered)  # snapshots are views there
