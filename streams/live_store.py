"""Where the live side's state is restored from and alerts are recorded (warehouse, topic)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pyarrow as pa

from usageflow.alerting.engine import AccountSeed
from usageflow.bus.reader import read_topic
from usageflow.config import KafkaSettings
from usageflow.schemas import Alert
from usageflow.schemas.window_aggregate import decimal_text
from usageflow.warehouse import Warehouse
from usageflow.warehouse.client import BoundText

_NEWEST = "WITH newest AS (SELECT account_id, max(ts) AS newest_ts FROM rated_events GROUP BY account_id) "


def seed_accounts(warehouse: Warehouse) -> list[AccountSeed]:
    """For every account with something stored: period totals (about the last 3 months and 5
    days of its event time), its requests of the last 2 hours, and its recorded alerts —
    everything `LiveEngine.restore` needs, in four queries whatever the number of accounts."""
    months = warehouse.query(
        _NEWEST + "SELECT r.account_id AS account_id, r.billing_month AS billing_month, "
        "sum(toUInt64(r.input_tokens) + r.output_tokens) AS tokens, sum(r.list_cost) AS cost, max(r.ts) AS last_ts "
        "FROM rated_events AS r FINAL INNER JOIN newest AS n ON r.account_id = n.account_id "
        "WHERE r.ts >= n.newest_ts - INTERVAL 100 DAY GROUP BY r.account_id, r.billing_month"
    )
    days = warehouse.query(
        _NEWEST + "SELECT r.account_id AS account_id, toString(r.billing_date) AS day, "
        "sum(toUInt64(r.input_tokens) + r.output_tokens) AS tokens, max(r.ts) AS last_ts "
        "FROM rated_events AS r FINAL INNER JOIN newest AS n ON r.account_id = n.account_id "
        "WHERE r.ts >= n.newest_ts - INTERVAL 6 DAY GROUP BY r.account_id, r.billing_date"
    )
    recent = warehouse.query(
        _NEWEST + "SELECT r.account_id AS account_id, r.ts AS ts, r.latency_ms AS latency_ms "
        "FROM rated_events AS r FINAL INNER JOIN newest AS n ON r.account_id = n.account_id "
        "WHERE r.ts >= n.newest_ts - INTERVAL 2 HOUR"
    )
    fired = warehouse.query("SELECT account_id, type, period, toString(level) AS level FROM alerts FINAL")
    seeds: dict[str, AccountSeed] = {}

    def seed_of(account_id: str) -> AccountSeed:
        seed = seeds.get(account_id)
        if seed is None:
            seed = seeds[account_id] = AccountSeed(account_id=account_id)
        return seed

    for row in months:
        seed = seed_of(row["account_id"])
        seed.month_tokens[row["billing_month"]] = int(row["tokens"])
        seed.month_list_cost[row["billing_month"]] = Decimal(row["cost"])
        seed.last_event_at[row["billing_month"]] = _utc(row["last_ts"])
    for row in days:
        seed_of(row["account_id"]).day_tokens[row["day"]] = int(row["tokens"])
        seed_of(row["account_id"]).last_event_at[row["day"]] = _utc(row["last_ts"])
    for row in recent:
        ts = row["ts"] if row["ts"].tzinfo else row["ts"].replace(tzinfo=UTC)
        seed_of(row["account_id"]).recent_requests.append((ts, int(row["latency_ms"])))
    for row in fired:
        seed_of(row["account_id"]).fired.append((row["account_id"], row["type"], row["period"], row["level"]))
    return list(seeds.values())


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def store_alerts(warehouse: Warehouse, alerts: Sequence[Alert]) -> None:
    if not alerts:
        return
    money = pa.decimal128(38, 12)
    table = pa.table(
        {
            "alert_id": [a.alert_id for a in alerts],
            "type": [a.type for a in alerts],
            "account_id": [a.account_id for a in alerts],
            "period": [a.period for a in alerts],
            "level": pa.array([a.level for a in alerts], money),
            "value": pa.array([a.value for a in alerts], money),
            "limit": pa.array([a.limit for a in alerts], money),
            "percentage": pa.array([a.percentage for a in alerts], money),
            "plan": [a.plan for a in alerts],
            "triggered_at": pa.array([a.triggered_at for a in alerts], pa.timestamp("ms", tz="UTC")),
            "emitted_at": pa.array([a.emitted_at for a in alerts], pa.timestamp("ms", tz="UTC")),
        }
    )
    warehouse.insert_arrow("alerts", table)


def published_alerts(kafka: KafkaSettings, topic: str) -> list[Alert]:
    """Every alert already on the alerts topic (the log of what was published)."""
    alerts = []
    for msg in read_topic(kafka, topic):
        try:
            alerts.append(Alert.model_validate(orjson.loads(msg.value() or b"{}")))
        except ValueError:
            continue
    return alerts


def record_published(warehouse: Warehouse, alerts: Sequence[Alert]) -> int:
    """Store the published alerts the warehouse `alerts` table misses (a worker died between
    Kafka's acknowledgement and its own insert); how many were missing."""
    if not alerts:
        return 0
    ids = orjson.dumps(sorted({a.alert_id for a in alerts})).decode()
    held = {
        row[0]
        for row in warehouse.query_rows(
            "SELECT DISTINCT alert_id FROM alerts WHERE alert_id IN (SELECT arrayJoin(JSONExtract({ids:String}, "
            "'Array(String)')))",
            {"ids": BoundText(ids)},
        )[1]
    }
    missing = list({a.alert_id: a for a in alerts if a.alert_id not in held}.values())
    store_alerts(warehouse, missing)
    return len(missing)


WINDOW_SPANS = {"1m": "INTERVAL 2 HOUR", "1h": "INTERVAL 2 DAY", "1d": "INTERVAL 40 DAY"}


def recent_windows(warehouse: Warehouse, account_id: str, granularity: str) -> list[dict[str, object]]:
    """The account's latest windows of one granularity as the stream keeps them (`usage_windows`:
    closed ones at their highest revision, open ones as of their last open row), newest first."""
    span = WINDOW_SPANS[granularity]
    rows = warehouse.query(
        "SELECT window_start, window_end, api_key_id, model, state, revision, requests, input_tokens, "
        "output_tokens, total_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, list_cost, window_id "
        "FROM usage_windows WHERE granularity = {g:String} AND account_id = {a:String} AND window_start >= "
        "(SELECT max(window_start) FROM usage_windows WHERE granularity = {g:String} AND account_id = {a:String}) "
        f"- {span} ORDER BY window_start DESC, api_key_id, model",
        {"g": granularity, "a": account_id},
    )
    for row in rows:
        for key in ("window_start", "window_end"):
            row[key] = row[key].replace(tzinfo=UTC).isoformat()
        row["list_cost"] = decimal_text(row["list_cost"])
    return rows


def latest_alerts(warehouse: Warehouse, limit: int = 10) -> list[dict[str, object]]:
    """The newest alerts recorded by any run of the worker, for `status` and the demo view."""
    rows = warehouse.query(
        "SELECT alert_id, type, account_id, period, level, value, limit, percentage, plan, triggered_at, emitted_at "
        "FROM alerts FINAL ORDER BY emitted_at DESC, triggered_at DESC LIMIT {n:UInt32}",
        {"n": limit},
    )
    for row in rows:
        for key in ("level", "value", "limit", "percentage"):
            row[key] = format(row[key].normalize(), "f")
        for key in ("triggered_at", "emitted_at"):
            row[key] = row[key].replace(tzinfo=UTC).isoformat()
    return rows


def alert_bytes(alert: Alert) -> bytes:
    return orjson.dumps(alert.model_dump(mode="json"))
