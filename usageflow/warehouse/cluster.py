"""The DDL of a ClickHouse cluster (`USAGEFLOW_CLICKHOUSE_CLUSTER`), made from the single-server
statements of sql/.

Every statement runs `ON CLUSTER <name>`. Tables:

* sharded by account: `rated_events`, `alerts` and `window_aggregates` (the big tables) become
  `<name>_local`, a Replicated*MergeTree per shard, and `<name>`, a Distributed table over them
  sharded by `cityHash64(account_id)`. Every row of one account lands on one shard, so the
  per-account dedupe keys (`(account_id, event_id)`, `(account_id, alert_id)`, a window's
  revisions) collapse within one shard and `FINAL`, which Distributed runs on each shard, stays
  exact.
* replicated to every node: everything else (accounts, the price book tables, the ledger):
  small, joined by every bill, so each node holds all of it (a replication path without
  `{shard}`: all replicas of all shards share one copy).
* `ALTER TABLE` runs on the table and, for a sharded one, on its `_local` tables first.
* billing snapshots become plain views of their computing views (each node would need its
  own snapshot rebuilt on every write; see docs/scaling.md).

The writer keeps using the names it uses on one server (`rated_events`, `alerts`, ...).
"""

from __future__ import annotations

import re

from usageflow.errors import ConfigError

SHARDED_BY_ACCOUNT = frozenset({"rated_events", "alerts", "window_aggregates"})
SHARDING_KEY = "cityHash64(account_id)"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_CREATE_TABLE = re.compile(
    r"^CREATE TABLE IF NOT EXISTS (?P<name>\w+)\s*(?P<columns>\(.*\))\s*"
    r"ENGINE\s*=\s*(?P<engine>\w*MergeTree)(?:\((?P<args>[^)]*)\))?\s*(?P<rest>.*)$",
    re.DOTALL,
)
_SNAPSHOT = re.compile(
    r"^CREATE OR REPLACE TABLE (?P<name>\w+_snapshot)\s+ENGINE\s*=.*?\sAS\s+(?P<select>SELECT\s.*)$",
    re.DOTALL,
)
_ALTER = re.compile(r"^ALTER TABLE (?P<name>\w+)\s+(?P<rest>.*)$", re.DOTALL)
_VIEW = re.compile(r"^(CREATE OR REPLACE VIEW \w+)\s+AS\s", re.DOTALL)
_FUNCTION = re.compile(r"^(CREATE FUNCTION IF NOT EXISTS \w+)\s+AS\s", re.DOTALL)


def checked_cluster_name(name: str | None) -> str | None:
    """`name` if it is a plain identifier (None: no cluster)."""
    if not name:
        return None
    if not _NAME.match(name):
        raise ConfigError(f"USAGEFLOW_CLICKHOUSE_CLUSTER={name!r} is not a plain cluster name")
    return name


def on_cluster(statement: str, cluster: str, database: str) -> list[str]:
    """The statements that do on `cluster`, in `database`, what `statement` does on one server."""
    table = _CREATE_TABLE.match(statement)
    if table:
        return _tables(table, cluster, database)
    alter = _ALTER.match(statement)
    if alter:
        name, rest = alter["name"], alter["rest"]
        targets = [f"{name}_local", name] if name in SHARDED_BY_ACCOUNT else [name]
        return [f"ALTER TABLE {target} ON CLUSTER {cluster} {rest}" for target in targets]
    snapshot = _SNAPSHOT.match(statement)
    if snapshot:
        return [f"CREATE OR REPLACE VIEW {snapshot['name']} ON CLUSTER {cluster} AS {snapshot['select']}"]
    for pattern in (_VIEW, _FUNCTION):
        match = pattern.match(statement)
        if match:
            return [f"{match.group(1)} ON CLUSTER {cluster} AS {statement[match.end() :]}"]
    raise ConfigError(f"no cluster form for this statement: {statement.splitlines()[0]}")


def _replicated(engine: str, path: str, args: str | None) -> str:
    extra = f", {args.strip()}" if args and args.strip() else ""
    return f"Replicated{engine}('{path}', '{{replica}}'{extra})"


def _tables(match: re.Match[str], cluster: str, database: str) -> list[str]:
    name, columns, engine, args, rest = (match[k] for k in ("name", "columns", "engine", "args", "rest"))
    if name not in SHARDED_BY_ACCOUNT:
        engine_sql = _replicated(engine, "/clickhouse/tables/all/{database}/{table}", args)
        return [f"CREATE TABLE IF NOT EXISTS {name} ON CLUSTER {cluster}\n{columns}\nENGINE = {engine_sql}\n{rest}"]
    local = f"{name}_local"
    engine_sql = _replicated(engine, "/clickhouse/tables/{shard}/{database}/{table}", args)
    return [
        f"CREATE TABLE IF NOT EXISTS {local} ON CLUSTER {cluster}\n{columns}\nENGINE = {engine_sql}\n{rest}",
        f"CREATE TABLE IF NOT EXISTS {name} ON CLUSTER {cluster} AS {local}\n"
        f"ENGINE = Distributed('{cluster}', '{database}', '{local}', {SHARDING_KEY})",
    ]
