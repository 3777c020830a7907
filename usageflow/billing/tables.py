"""Writing the billing inputs: the price book tables and the accounts table.

`load_price_book` stores a new load of the price book: every price version's plans, tiers,
models and regions, the months each version bills per time zone, then the `price_book_versions`
rows last, in one insert, so the views switch to the new load at once and never see half a
book; loading the same book again is a no-op. Both writers end by rebuilding the billing
snapshots their rows feed (usageflow.billing.snapshots). Prices therefore change without code
changes: edit the price book file and restart the worker (or call this).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from usageflow.billing.snapshots import ACCOUNTS, refresh_snapshots
from usageflow.errors import PriceBookError
from usageflow.pricing.month_starts import BEFORE_EVERY_MONTH, billing_zones, first_month_billed
from usageflow.pricing.price_book import PriceBook
from usageflow.schemas import Account
from usageflow.warehouse.client import Warehouse

FACTOR_PLACES = 6  # Decimal(18, 6) columns: tier multipliers, discount factors, hint factors
MONEY_PLACES = 12  # Decimal(38, 12) columns

ACCOUNT_COLUMNS = (
    "account_id",
    "plan",
    "extra_tokens",
    "extra_concurrent",
    "prepaid",
    "contract_months",
    "educational",
    "timezone",
    "monthly_budget",
    "updated_at",
    "deleted",
)

_clock_lock = threading.Lock()
_last_stamp = datetime.min.replace(tzinfo=UTC)


def _places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _check_places(name: str, value: Decimal, places: int) -> Decimal:
    if _places(value) > places:
        raise PriceBookError(
            f"price book: {name} = {value} has more than {places} decimal places; the warehouse stores it with {places}"
        )
    return value


def book_hash(book: PriceBook) -> str:
    """A stable fingerprint of the book's content."""
    canonical = json.dumps(book.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def current_price_book_version(warehouse: Warehouse) -> tuple[int, str] | None:
    """(load number, hash) of the book the views use, or None when none is loaded."""
    rows = warehouse.query("SELECT load_id, book_hash FROM price_book_versions ORDER BY version DESC LIMIT 1")
    if not rows:
        return None
    return int(rows[0]["load_id"]), str(rows[0]["book_hash"])


def load_price_book(warehouse: Warehouse, book: PriceBook) -> int:
    """Make `book` (every one of its price versions) the current price book of the warehouse;
    return the load's number (the version number of its first price version).

    Does nothing (returns the current load) when the current book has the same content.
    Raises PriceBookError when a factor has more decimals than the warehouse keeps.
    """
    for number, version in enumerate(book.versions):
        _check_version(version, "" if not book.later_versions else f"versions[{number}].")
    fingerprint = book_hash(book)
    current = current_price_book_version(warehouse)
    if current is not None and current[1] == fingerprint:
        # Repairs a load that stopped before its rebuild, and rows written by hand since.
        refresh_snapshots(warehouse, only_stale=True)
        return current[0]
    top = warehouse.query("SELECT max(version) AS top FROM price_book_versions")
    load_id = int(top[0]["top"] or 0) + 1 if top else 1
    numbered = list(enumerate(book.versions, load_id))
    for number, version in numbered:
        _insert_version_rows(warehouse, number, version)
    warehouse.insert_rows(
        "price_version_months",
        [
            [number, zone, BEFORE_EVERY_MONTH if n == 0 else first_month_billed(_effective(version), zone)]
            for n, (number, version) in enumerate(numbered)
            for zone in billing_zones()
        ],
        ["version", "timezone", "first_month"],
    )
    loaded_at = datetime.now(UTC)
    rows = [_version_row(number, version, load_id, fingerprint, loaded_at) for number, version in numbered]
    warehouse.insert_rows("price_book_versions", [list(r.values()) for r in rows], list(rows[0]))
    refresh_snapshots(warehouse)
    return load_id


def _effective(version: PriceBook) -> datetime:
    if version.effective_from is None:  # only a first version has none (PriceBook checks)
        raise PriceBookError("price book: a later version needs an effective_from")
    return version.effective_from


def _check_version(book: PriceBook, where: str) -> None:
    factor_fields: list[tuple[str, Decimal]] = [
        ("discounts.prepaid", book.discounts.prepaid),
        ("discounts.contract", book.discounts.contract),
        ("discounts.educational", book.discounts.educational),
        ("off_peak.multiplier", book.off_peak.multiplier),
        ("hints.off_peak_shiftable_share", book.hints.off_peak_shiftable_share),
    ]
    factor_fields += [(f"tiers[{i}].multiplier", t.multiplier) for i, t in enumerate(book.tiers)]
    for name, value in factor_fields:
        _check_places(where + name, value, FACTOR_PLACES)
    money_fields: list[tuple[str, Decimal]] = [
        ("base_per_1k", book.base_per_1k),
        ("custom_plan.extra_tokens_per_1k", book.custom_plan.extra_tokens_per_1k),
        ("custom_plan.extra_concurrent_each", book.custom_plan.extra_concurrent_each),
        ("default_region_multiplier", book.default_region_multiplier),
    ]
    money_fields += [(f"plans.{n}.monthly_fee", p.monthly_fee) for n, p in book.plans.items()]
    money_fields += [(f"regions.{n}", m) for n, m in book.regions.items()]
    for model in book.models:
        money_fields.append((f"models.{model}.multiplier", book.models[model].multiplier))
        money_fields += [
            (f"models.{model}.{kind}_per_1k", price) for kind, price in book.token_prices(model)._asdict().items()
        ]
    for name, value in money_fields:
        _check_places(where + name, value, MONEY_PLACES)


def _insert_version_rows(warehouse: Warehouse, version: int, book: PriceBook) -> None:
    """One price version's plans, tiers, models and regions (read only once its
    price_book_versions row exists)."""
    plans: list[list[Any]] = [[version, "payg", 1, 0, 0, Decimal(0)]]
    plans += [[version, name, 0, p.monthly_tokens, p.max_concurrent, p.monthly_fee] for name, p in book.plans.items()]
    warehouse.insert_rows(
        "price_plans",
        plans,
        ["version", "plan", "is_payg", "monthly_tokens", "max_concurrent", "monthly_fee"],
    )
    warehouse.insert_rows(
        "price_tiers",
        [[version, t.start, t.multiplier] for t in book.tiers],
        ["version", "start", "multiplier"],
    )
    models = []
    for name, m in book.models.items():
        prices = book.token_prices(name)
        models.append(
            [
                version,
                name,
                m.multiplier,
                prices.input,
                prices.output,
                int(m.flagship),
                prices.cached_input,
                prices.cache_write,
                prices.reasoning,
            ]
        )
    warehouse.insert_rows(
        "price_models",
        models,
        [
            "version",
            "model",
            "multiplier",
            "input_per_1k",
            "output_per_1k",
            "flagship",
            "cached_input_per_1k",
            "cache_write_per_1k",
            "reasoning_per_1k",
        ],
    )
    if book.regions:
        warehouse.insert_rows(
            "price_regions",
            [[version, name, mult] for name, mult in book.regions.items()],
            ["version", "region", "multiplier"],
        )


def _version_row(version: int, book: PriceBook, load_id: int, fingerprint: str, loaded_at: datetime) -> dict[str, Any]:
    d = book.discounts
    return {
        "version": version,
        "book_hash": fingerprint,
        "loaded_at": loaded_at,
        "currency": book.currency,
        "billing_timezone": book.billing_timezone,
        "base_per_1k": book.base_per_1k,
        "default_region_multiplier": book.default_region_multiplier,
        "off_peak_start_hour": book.off_peak.start_hour,
        "off_peak_end_hour": book.off_peak.end_hour,
        "off_peak_multiplier": book.off_peak.multiplier,
        "prepaid_factor": d.prepaid,
        "contract_factor": d.contract,
        "contract_min_months": d.contract_min_months,
        "educational_factor": d.educational,
        "extra_tokens_per_1k": book.custom_plan.extra_tokens_per_1k,
        "extra_concurrent_each": book.custom_plan.extra_concurrent_each,
        "off_peak_shiftable_share": book.hints.off_peak_shiftable_share,
        "light_model": book.hints.light_model,
        "light_eligible_features": list(book.hints.light_eligible_features),
        "load_id": load_id,
        "effective_from": book.effective_from,
        "price_version": book.version_label,
    }


def _stamp() -> datetime:
    """Strictly increasing millisecond timestamps, so the later of two upserts always wins."""
    global _last_stamp  # noqa: PLW0603
    with _clock_lock:
        wall = datetime.now(UTC)
        now = wall.replace(microsecond=wall.microsecond // 1000 * 1000)
        if now <= _last_stamp:
            now = _last_stamp + timedelta(milliseconds=1)
        _last_stamp = now
        return now


def upsert_accounts(warehouse: Warehouse, accounts: Sequence[Account], deleted_ids: Sequence[str] = ()) -> None:
    """Store the newest version of `accounts` and mark `deleted_ids` as deleted (a deleted
    account's usage is billed payg with no discounts, like any unknown account)."""
    if not accounts and not deleted_ids:
        return
    stamp = _stamp()
    rows: list[list[Any]] = [
        [
            a.account_id,
            a.plan,
            a.extra_tokens,
            a.extra_concurrent,
            a.prepaid,
            a.contract_months,
            a.educational,
            a.timezone,
            a.monthly_budget,
            stamp,
            0,
        ]
        for a in accounts
    ]
    rows += [[i, "payg", 0, 0, False, 0, False, None, None, stamp, 1] for i in deleted_ids]
    warehouse.insert_rows("accounts", rows, ACCOUNT_COLUMNS)
    refresh_snapshots(warehouse, ACCOUNTS)
