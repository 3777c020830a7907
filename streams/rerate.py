"""Re-pricing a month's stored events with the current price book (docs/pricing.md §11).

Each stored event of the month is rated again with the price version in force at its event
time, in the billing time zone it was billed in (so it stays in its month); an event whose price
changed is written again as a whole row. rated_events is a ReplacingMergeTree on
(account_id, event_id) and every reader uses FINAL, so the newer row replaces the older one:
an event is never counted twice, however often this runs or wherever it was cut short.
Repeating a finished rerate finds every price equal and writes nothing; a rerate killed
half-way left some events re-priced and the others as they were, and running it again
re-prices the rest. Reading goes page by page in primary-key order, so memory stays bounded.

With the embedded warehouse a running worker owns it: the worker runs this between two
batches (usageflow.streams.http, `/rerate`), after switching its own rating to the re-read
price book, so no batch rated with the old book can be stored after the rerate read it. Either
way the month's windows are recomputed afterwards (usageflow.windows.recompute): a window whose
list cost changed is published again with a higher revision.
"""

from __future__ import annotations

import contextlib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa

from usageflow.config import KafkaSettings, TopicSettings
from usageflow.errors import UsageflowError, ValidationFailure
from usageflow.pricing.price_book import PriceBook, load_price_book
from usageflow.pricing.rating import RatedEvent, rate_in_zone
from usageflow.schemas import UsageEvent
from usageflow.streams.rated_rows import RATED_EVENTS_SCHEMA, rated_events_table
from usageflow.warehouse import Warehouse, open_warehouse
from usageflow.windows.recompute import month_range, recompute_and_publish

if TYPE_CHECKING:
    from usageflow.streams.pipeline import BatchPipeline

PAGE_ROWS = 20_000
_EVENT_FIELDS = (
    "event_id",
    "account_id",
    "api_key_id",
    "model",
    "region",
    "feature",
    "user_id",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "provider_cost",
    "ts",
    "latency_ms",
    "extra",
)
_PRICE_FIELDS = (
    "input_per_1k",
    "output_per_1k",
    "cached_input_per_1k",
    "cache_write_per_1k",
    "reasoning_per_1k",
    "region_multiplier",
    "off_peak_multiplier",
    "list_cost",
    "price_version",
)
_READ = ", ".join((*_EVENT_FIELDS, *_PRICE_FIELDS, "billing_tz", "ingested_at"))
# A billing month in any zone lies within its UTC month ± 1 day: the ts bounds let ClickHouse
# skip the other monthly partitions.
_MONTH_FILTER = (
    "billing_month = {month:String} "
    "AND ts >= toDateTime64(concat({month:String}, '-01'), 3, 'UTC') - INTERVAL 1 DAY "
    "AND ts < addMonths(toDateTime64(concat({month:String}, '-01'), 3, 'UTC'), 1) + INTERVAL 1 DAY"
)


@dataclass
class RerateReport:
    month: str
    account_id: str | None
    events: int = 0
    repriced: int = 0
    unchanged: int = 0
    unpriceable: int = 0  # the current book has no price for its model or region: left as it was
    accounts: list[str] = field(default_factory=list)  # accounts with at least one re-priced event
    window_revisions: int = 0  # windows the new prices changed: published again with a new revision

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


Progress = Callable[[RerateReport], None]


def rerate_month(
    warehouse: Warehouse,
    book: PriceBook,
    month: str,
    account_id: str | None = None,
    page_rows: int = PAGE_ROWS,
    on_page: Progress | None = None,
) -> RerateReport:
    """Re-price the stored events of `month` ('YYYY-MM', billing month) of one account or all."""
    if len(month) != 7 or month[4] != "-" or not (month[:4] + month[5:]).isdigit():
        raise UsageflowError(f"month must be YYYY-MM, got {month!r}")
    report = RerateReport(month=month, account_id=account_id)
    for account in _accounts(warehouse, month, account_id):
        after = ""
        while True:
            rows = warehouse.query(
                f"SELECT {_READ} FROM rated_events FINAL WHERE account_id = {{account:String}} "
                f"AND event_id > {{after:String}} AND {_MONTH_FILTER} ORDER BY event_id LIMIT {int(page_rows)}",
                {"account": account, "after": after, "month": month},
            )
            if not rows:
                break
            changed = _repriced(rows, book, report)
            if changed:
                warehouse.insert_arrow("rated_events", _table(changed))
                report.repriced += len(changed)
                if account not in report.accounts:
                    report.accounts.append(account)
            after = str(rows[-1]["event_id"])
            if on_page is not None:
                on_page(report)
    return report


def _accounts(warehouse: Warehouse, month: str, account_id: str | None) -> list[str]:
    rows = warehouse.query(
        f"SELECT DISTINCT account_id FROM rated_events WHERE {_MONTH_FILTER} "
        "AND ({account:String} = '' OR account_id = {account:String}) ORDER BY account_id",
        {"month": month, "account": account_id or ""},
    )
    return [str(r["account_id"]) for r in rows]


def _repriced(rows: list[dict[str, Any]], book: PriceBook, report: RerateReport) -> list[tuple[RatedEvent, datetime]]:
    changed = []
    for row in rows:
        report.events += 1
        event = stored_event(row)
        try:
            rated = rate_in_zone(event, str(row["billing_tz"]), book)
        except ValidationFailure:
            report.unpriceable += 1
            continue
        if all(getattr(rated, name) == row[name] for name in _PRICE_FIELDS):
            report.unchanged += 1
        else:
            changed.append((rated, _utc(row["ingested_at"])))
    return changed


def stored_event(row: dict[str, Any]) -> UsageEvent:
    """The UsageEvent a stored row was rated from (extra fields included)."""
    data: dict[str, Any] = orjson.loads(row["extra"]) if row["extra"] else {}
    data.update(
        schema_version=1,
        ts=_utc(row["ts"]),
        **{name: row[name] for name in _EVENT_FIELDS if name not in ("ts", "extra")},
    )
    for optional in ("region", "feature", "user_id"):
        if data[optional] == "":
            data[optional] = None
    if data["provider_cost"] is not None:
        data["provider_cost"] = format(data["provider_cost"].normalize(), "f")
    return UsageEvent.model_validate(data)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _table(changed: list[tuple[RatedEvent, datetime]]) -> pa.Table:
    """The new rows, stamped rated_at now and keeping when each event was first ingested."""
    table = rated_events_table([rated for rated, _ in changed])
    column = RATED_EVENTS_SCHEMA.get_field_index("ingested_at")
    first_ingested = pa.array([at for _, at in changed], RATED_EVENTS_SCHEMA.field("ingested_at").type)
    return table.set_column(column, RATED_EVENTS_SCHEMA.field("ingested_at"), first_ingested)


def rerate_in_worker(
    pipeline: BatchPipeline, book_path: Path | None, month: str, account_id: str | None
) -> RerateReport:
    """The worker's side of `usageflow rerate` (on the pipeline's thread, between batches):
    re-read the price book file, store it, rate the next batches with it, re-price the month."""
    from usageflow.billing.tables import load_price_book as load_price_tables

    book = load_price_book(book_path)
    pipeline.retry.call("storing the price book", lambda: load_price_tables(pipeline.warehouse, book))
    pipeline.use_price_book(book)
    report = pipeline.retry.call("the rerate", lambda: rerate_month(pipeline.warehouse, book, month, account_id))
    windows = pipeline.windows
    if windows is not None:  # always, not only after changes: a rerate cut before it left some
        recomputed = pipeline.retry.call("the windows' recompute", lambda: windows.recompute_month(month, account_id))
        report.window_revisions = len(recomputed.revisions)
    return report


def run_rerate(
    warehouse_url: str,
    data_dir: Path,
    book_path: Path | None,
    month: str,
    account_id: str | None,
    kafka: KafkaSettings,
    topics: TopicSettings,
) -> dict[str, Any]:
    """`usageflow rerate`: through the running worker when there is one (it must rate with the
    corrected book too), else directly on the warehouse, then the windows of the month are
    recomputed and their new revisions published (always: a rerate cut before that step left
    windows behind, and running it again repairs them)."""
    worker_url = _running_worker(data_dir)
    if worker_url is not None:
        return _ask_worker(worker_url, month, account_id)
    from usageflow.billing.tables import load_price_book as load_price_tables

    book = load_price_book(book_path)
    warehouse = open_warehouse(warehouse_url)
    try:
        load_price_tables(warehouse, book)
        report = rerate_month(warehouse, book, month, account_id)
        recomputed = recompute_and_publish(warehouse, kafka, topics, account_id, *month_range(month))
        report.window_revisions = len(recomputed.revisions)
        return report.to_json()
    finally:
        warehouse.close()


def _running_worker(data_dir: Path) -> str | None:
    from usageflow.billing.access import worker_status

    try:
        return str(worker_status(data_dir)["url"])
    except UsageflowError:
        return None


def _ask_worker(url: str, month: str, account_id: str | None) -> dict[str, Any]:
    query = urllib.parse.urlencode({"month": month, **({"account": account_id} if account_id else {})})
    try:
        with urllib.request.urlopen(f"{url}/rerate?{query}", timeout=3600) as response:  # noqa: S310 - our own worker
            result: dict[str, Any] = orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        with contextlib.suppress(ValueError):
            detail = orjson.loads(detail).get("error", detail)
        raise UsageflowError(f"the worker refused the rerate: {detail}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise UsageflowError(f"the worker at {url} did not finish the rerate: {exc}; run it again") from exc
    return result
