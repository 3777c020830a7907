"""One client for both backends: clickhouse-connect drives chDB in-process and servers over HTTP.

chDB allows one process per path: a second process gets `WarehouseLockedError` with a clear
message naming the lock holder, never a half-open client.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import clickhouse_connect
from clickhouse_connect.driver.exceptions import ClickHouseError

from usageflow.errors import ConfigError, WarehouseLockedError
from usageflow.warehouse.failures import warehouse_error

_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
DEFAULT_DATABASE = "usageflow"


# What clickhouse-connect's escape_str escapes in a bound value, each with a backslash.
_BIND_ESCAPES = str.maketrans({c: "\\" + c for c in ("\\", "'", "`", "\t", "\n")})


class BoundText:
    """A String query parameter escaped up front. clickhouse-connect escapes a bound `str` one
    character at a time in Python (~3 µs per id of the sink's 20,000-id lists); this does the
    same escaping with `str.translate` in C, and clickhouse-connect binds any object it does
    not know as `str(value)`."""

    __slots__ = ("escaped",)

    def __init__(self, text: str) -> None:
        self.escaped = text.translate(_BIND_ESCAPES)

    def __str__(self) -> str:
        return self.escaped


@dataclass(frozen=True)
class WarehouseTarget:
    """A parsed `USAGEFLOW_WAREHOUSE` value."""

    kind: str  # "chdb" | "clickhouse"
    path: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8123
    username: str = "default"
    password: str = ""
    database: str = DEFAULT_DATABASE
    secure: bool = False

    def describe(self) -> str:
        """Human form without secrets."""
        if self.kind == "chdb":
            return f"chdb:{self.path}"
        return f"clickhouse://{self.username}@{self.host}:{self.port}/{self.database}"


def parse_warehouse_url(url: str) -> WarehouseTarget:
    """Parse `chdb:PATH`, `chdb:///abs/path` or `clickhouse[s]://user:pass@host:port/db`."""
    if url.startswith("chdb:"):
        rest = url[len("chdb:") :]
        if rest.startswith("//"):
            rest = rest[2:]
        if not rest:
            raise ConfigError("USAGEFLOW_WAREHOUSE=chdb: needs a path, e.g. chdb:./.usageflow/warehouse")
        return WarehouseTarget(kind="chdb", path=Path(rest).expanduser().resolve())
    parsed = urlparse(url)
    if parsed.scheme not in ("clickhouse", "clickhouses", "http", "https"):
        raise ConfigError("USAGEFLOW_WAREHOUSE must look like chdb:PATH or clickhouse://user:pass@host:8123/db")
    database = parsed.path.strip("/") or DEFAULT_DATABASE
    if not _DB_NAME.match(database):
        raise ConfigError(f"warehouse database name {database!r} is not a plain identifier")
    secure = parsed.scheme in ("clickhouses", "https")
    return WarehouseTarget(
        kind="clickhouse",
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or (8443 if secure else 8123),
        username=unquote(parsed.username or "default"),
        password=unquote(parsed.password or ""),
        database=database,
        secure=secure,
    )


class Warehouse:
    """DDL, batched inserts and parameterised queries against one database."""

    def __init__(self, client: Any, target: WarehouseTarget, database: str) -> None:
        self._client = client
        self.target = target
        self.database = database

    @property
    def kind(self) -> str:
        return self.target.kind

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Any:
        """Run DDL or any statement without a result set."""
        try:
            return self._client.command(sql, parameters=parameters)
        except ClickHouseError as exc:
            raise warehouse_error(exc) from exc

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows as dicts. Use `{name:Type}` server-side parameters for every outside value."""
        try:
            result = self._client.query(sql, parameters=parameters)
        except ClickHouseError as exc:
            raise warehouse_error(exc) from exc
        names = result.column_names
        return [dict(zip(names, row, strict=True)) for row in result.result_rows]

    def query_rows(
        self, sql: str, parameters: Mapping[str, Any] | None = None
    ) -> tuple[Sequence[str], list[tuple[Any, ...]]]:
        try:
            result = self._client.query(sql, parameters=parameters)
        except ClickHouseError as exc:
            raise warehouse_error(exc) from exc
        return result.column_names, [tuple(r) for r in result.result_rows]

    def insert_arrow(self, table: str, arrow_table: Any) -> None:
        """Columnar insert: the fast path for the sink (batch >= 10k rows where possible)."""
        try:
            self._client.insert_arrow(table, arrow_table, database=self.database)
        except ClickHouseError as exc:
            raise warehouse_error(exc) from exc

    def insert_rows(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        try:
            self._client.insert(table, rows, column_names=list(columns), database=self.database)
        except ClickHouseError as exc:
            raise warehouse_error(exc) from exc

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing is best effort
            self._client.close()


def open_warehouse(url: str, database: str | None = None) -> Warehouse:
    """Open the warehouse named by `url`, creating its database when missing."""
    target = parse_warehouse_url(url)
    database = database or target.database
    if not _DB_NAME.match(database):
        raise ConfigError(f"warehouse database name {database!r} is not a plain identifier")
    if target.kind == "chdb" and importlib.util.find_spec("chdb") is None:
        raise ConfigError(
            "the embedded warehouse (chdb:…) needs the chdb-core package: pip install chdb-core, "
            "or set USAGEFLOW_WAREHOUSE=clickhouse://user:pass@host:8123/db"
        )
    try:
        if target.kind == "chdb":
            assert target.path is not None
            target.path.mkdir(parents=True, exist_ok=True)
            if target.path not in _OPENED_HERE and _locked_by_another_process(target.path):
                raise WarehouseLockedError(_locked_message(target))
        # the database's own client is opened before the one that created it is closed: in
        # chDB, closing the last connection shuts the engine down, and starting it again costs
        # ~0.3 s and leaves ~10 of its threads behind each time
        creator = connect_client(target)
        try:
            creator.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
            if target.path is not None:
                _OPENED_HERE.add(target.path)
            client = connect_client(target, database)
        finally:
            creator.close()
    except WarehouseLockedError:
        raise
    except Exception as exc:
        message = _one_line(exc)
        if "Cannot lock file" in message or "already running" in message:
            raise WarehouseLockedError(_locked_message(target)) from exc
        raise warehouse_error(exc, f"cannot open warehouse {target.describe()}") from exc
    return Warehouse(client, target, database)


def connect_client(target: WarehouseTarget, database: str | None = None) -> Any:
    """A clickhouse-connect client: chDB in-process, or a server over HTTP(S); without `database`
    it creates nothing by connecting."""
    if target.kind == "chdb":
        return clickhouse_connect.get_client(interface="chdb", path=str(target.path), database=database)
    return clickhouse_connect.get_client(
        host=target.host,
        port=target.port,
        username=target.username,
        password=target.password,
        secure=target.secure,
        database=database,
    )


_OPENED_HERE: set[Path] = set()


def _locked_by_another_process(path: Path) -> bool:
    """chDB (like clickhouse-server) holds an exclusive flock on `<path>/status` while it runs.
    Probe it ourselves, so a second process gets a clear error instead of chDB's stderr noise."""
    status = path / "status"
    if not status.exists():
        return False
    try:
        with status.open("rb") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def _locked_message(target: WarehouseTarget) -> str:
    return (
        f"warehouse {target.describe()} is in use by another process (chDB allows one process per "
        "path): stop `usageflow worker`/`usageflow up` first, or point USAGEFLOW_WAREHOUSE at a "
        "ClickHouse server"
    )


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return first[:500]
