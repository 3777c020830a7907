"""The shipped SQL files and the pure parts of the migrator: statements, dependency order,
rerunnable versioned files, the cluster forms."""

from __future__ import annotations

import pytest

from usageflow.errors import ConfigError
from usageflow.warehouse.cluster import checked_cluster_name, on_cluster
from usageflow.warehouse.migrate import Migration, dependency_order, dependents, discover
from usageflow.warehouse.sql_text import identifiers, statements, strip_comments

pytestmark = pytest.mark.unit


def view(version: str, sql: str) -> Migration:
    return Migration(version, sql, repeatable=True)


def test_comments_go_but_strings_stay() -> None:
    sql = "SELECT '--not a comment' AS a, -- gone\n  `x--y` AS b -- gone too\nFROM t"
    assert strip_comments(sql) == "SELECT '--not a comment' AS a, \n  `x--y` AS b \nFROM t"


def test_statements_split_at_a_semicolon_that_ends_a_line() -> None:
    sql = "-- head\nCREATE VIEW a AS SELECT ';' AS s;\n\n-- next\nCREATE VIEW b AS SELECT 1;\n"
    assert statements(sql) == ["CREATE VIEW a AS SELECT ';' AS s", "CREATE VIEW b AS SELECT 1"]


def test_identifiers_skip_string_literals() -> None:
    assert "payg" not in identifiers("SELECT 'payg' AS plan FROM account_terms")
    assert "account_terms" in identifiers("SELECT 'payg' AS plan FROM account_terms")


def test_dependency_order_puts_what_is_read_first() -> None:
    c = view("views/c", "CREATE OR REPLACE VIEW c AS SELECT * FROM b")
    b = view("views/b", "CREATE OR REPLACE VIEW b AS SELECT f(x) FROM a")
    a = view("views/a", "CREATE OR REPLACE VIEW a AS SELECT 1 AS x")
    f = view("functions/f", "CREATE FUNCTION IF NOT EXISTS f AS (x) -> x + 1")
    assert [m.version for m in dependency_order([c, b, a, f])] == ["views/a", "functions/f", "views/b", "views/c"]
    ordered = dependency_order([c, b, a, f])
    assert dependents(ordered, {"views/a"}) == {"views/a", "views/b", "views/c"}
    assert dependents(ordered, {"views/c"}) == {"views/c"}


def test_a_cycle_is_refused() -> None:
    a = view("views/a", "CREATE OR REPLACE VIEW a AS SELECT * FROM b")
    b = view("views/b", "CREATE OR REPLACE VIEW b AS SELECT * FROM a")
    with pytest.raises(Exception, match="cycle"):
        dependency_order([a, b])


def test_checksum_ignores_comments_but_not_code() -> None:
    base = view("views/a", "-- one\nCREATE OR REPLACE VIEW a AS SELECT 1 AS x")
    assert base.checksum() == view("views/a", "-- two\nCREATE OR REPLACE VIEW a AS SELECT 1 AS x\n").checksum()
    assert base.checksum() != view("views/a", "CREATE OR REPLACE VIEW a AS SELECT 2 AS x").checksum()
    assert base.checksum() != base.checksum("analytics", "usageflow")


def test_shipped_files() -> None:
    migrations = discover()
    versioned = [m for m in migrations if not m.repeatable]
    assert [m.version[:4] for m in versioned] == sorted(m.version[:4] for m in versioned)
    defined = {name: m.version for m in migrations for name in m.defines}
    # every view's final definition lives in the file named after it; nothing is renamed later
    for m in migrations:
        assert not any(s.upper().startswith(("RENAME", "DROP", "EXCHANGE")) for s in m.statements), m.version
        if m.version.startswith("views/"):
            assert defined[m.version.removeprefix("views/")] == m.version
    for name in ("price_book", "plan_options", "accounts_current", "account_terms"):
        assert {f"{name}_computed", f"{name}_snapshot", name} <= {n for n, v in defined.items() if v == f"views/{name}"}


def test_defaults_and_tier_weight_are_written_once() -> None:
    texts = {m.version: "\n".join(m.statements) for m in discover()}
    assert sum(t.count("arraySum(arrayMap") for t in texts.values()) == 1
    assert "arraySum(arrayMap" in texts["functions/usageflow_tier_weight_v1"]
    assert not any("known_account = 1" in t for t in texts.values())
    assert sum(t.count("'payg' AS plan") for t in texts.values()) == 1


def test_a_versioned_file_must_be_safe_to_rerun(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "0001_t.sql").write_text("CREATE TABLE t (x UInt8) ENGINE = MergeTree ORDER BY x")
    with pytest.raises(Exception, match="not safe to run again"):
        discover(tmp_path)  # type: ignore[arg-type]
    (tmp_path / "0001_t.sql").write_text("CREATE TABLE IF NOT EXISTS t (x UInt8) ENGINE = MergeTree ORDER BY x")
    assert [m.version for m in discover(tmp_path)] == ["0001_t"]  # type: ignore[arg-type]


def test_cluster_forms() -> None:
    sharded = on_cluster(
        "CREATE TABLE IF NOT EXISTS alerts\n(\n    alert_id String,\n    account_id String\n)\n"
        "ENGINE = ReplacingMergeTree\nPARTITION BY tuple()\nORDER BY (account_id, alert_id)",
        "c1",
        "db",
    )
    assert sharded[0].startswith("CREATE TABLE IF NOT EXISTS alerts_local ON CLUSTER c1\n(")
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')"
        in (sharded[0])
    )
    assert sharded[0].endswith("ORDER BY (account_id, alert_id)")
    assert sharded[1] == (
        "CREATE TABLE IF NOT EXISTS alerts ON CLUSTER c1 AS alerts_local\n"
        "ENGINE = Distributed('c1', 'db', 'alerts_local', cityHash64(account_id))"
    )
    (snapshot,) = on_cluster(
        "CREATE OR REPLACE TABLE x_snapshot ENGINE = MergeTree ORDER BY tuple()\nAS SELECT * FROM x_computed",
        "c1",
        "db",
    )
    assert snapshot == "CREATE OR REPLACE VIEW x_snapshot ON CLUSTER c1 AS SELECT * FROM x_computed"
    (function,) = on_cluster("CREATE FUNCTION IF NOT EXISTS f AS (x) -> x", "c1", "db")
    assert function == "CREATE FUNCTION IF NOT EXISTS f ON CLUSTER c1 AS (x) -> x"
    local, distributed = on_cluster("ALTER TABLE rated_events ADD COLUMN IF NOT EXISTS n UInt32 DEFAULT 0", "c1", "db")
    assert local == "ALTER TABLE rated_events_local ON CLUSTER c1 ADD COLUMN IF NOT EXISTS n UInt32 DEFAULT 0"
    assert distributed == "ALTER TABLE rated_events ON CLUSTER c1 ADD COLUMN IF NOT EXISTS n UInt32 DEFAULT 0"
    (replicated,) = on_cluster("ALTER TABLE accounts DROP COLUMN IF EXISTS x", "c1", "db")
    assert replicated == "ALTER TABLE accounts ON CLUSTER c1 DROP COLUMN IF EXISTS x"


def test_cluster_name_is_a_plain_identifier() -> None:
    assert checked_cluster_name("") is None
    assert checked_cluster_name("prod_1") == "prod_1"
    with pytest.raises(ConfigError):
        checked_cluster_name("prod; DROP")
