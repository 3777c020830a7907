"""The price book of docs/pricing.md §1 and §3–5, loadable from a YAML/JSON file.

Every number is a Decimal; files may give numbers or strings (strings are recommended so YAML
never turns a price into a float first).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from usageflow.errors import PriceBookError
from usageflow.pricing.month_starts import month_start

BASE_PER_1K = Decimal("0.006")
MAX_COST_SCALE = 12


def _scale(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


class ModelPrice(BaseModel):
    """Prices per 1,000 tokens of each token type (docs/pricing.md §10). Unset: input and output
    at `multiplier` × the book's base price, cached input and cache writes at the input price,
    reasoning at the output price."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    multiplier: Decimal = Decimal("1")
    input_per_1k: Decimal | None = None
    output_per_1k: Decimal | None = None
    cached_input_per_1k: Decimal | None = None
    cache_write_per_1k: Decimal | None = None
    reasoning_per_1k: Decimal | None = None
    flagship: bool = False

    @field_validator(
        "multiplier", "input_per_1k", "output_per_1k", "cached_input_per_1k", "cache_write_per_1k", "reasoning_per_1k"
    )
    @classmethod
    def _not_negative(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and (not value.is_finite() or value < 0):
            raise ValueError("a price must be a finite number >= 0")
        return value


class TokenPrices(NamedTuple):
    """One model's prices per 1,000 tokens, every token type resolved."""

    input: Decimal
    cached_input: Decimal
    cache_write: Decimal
    output: Decimal
    reasoning: Decimal


class Tier(BaseModel):
    """Tokens of the month in [start, next tier's start) are priced at `multiplier`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: int = Field(ge=0)
    multiplier: Decimal


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    monthly_tokens: int = Field(ge=0)
    max_concurrent: int = Field(ge=0)
    monthly_fee: Decimal


class Discounts(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    prepaid: Decimal = Decimal("0.90")
    contract: Decimal = Decimal("0.85")
    contract_min_months: int = 12
    educational: Decimal = Decimal("0.80")


class OffPeak(BaseModel):
    """Event time in [start_hour, end_hour) of the billing time zone gets `multiplier`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start_hour: int = Field(default=0, ge=0, le=23)
    end_hour: int = Field(default=8, ge=0, le=24)
    multiplier: Decimal = Decimal("0.7")


class CustomPlanRates(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    extra_tokens_per_1k: Decimal = Decimal("0.004")
    extra_concurrent_each: Decimal = Decimal("50")


class Hints(BaseModel):
    """Parameters of the cost hints of §9."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    off_peak_shiftable_share: Decimal = Decimal("0.3")
    light_eligible_features: tuple[str, ...] = ("code_completion",)
    light_model: str = "qwen-turbo"


def _default_models() -> dict[str, ModelPrice]:
    return {
        "qwen-max": ModelPrice(multiplier=Decimal("1.0"), flagship=True),
        "qwen-plus": ModelPrice(multiplier=Decimal("0.8")),
        "qwen-turbo": ModelPrice(multiplier=Decimal("0.6")),
    }


def _default_tiers() -> tuple[Tier, ...]:
    return (
        Tier(start=0, multiplier=Decimal("1.0")),
        Tier(start=100_000, multiplier=Decimal("0.9")),
        Tier(start=500_000, multiplier=Decimal("0.8")),
        Tier(start=1_000_000, multiplier=Decimal("0.7")),
        Tier(start=5_000_000, multiplier=Decimal("0.6")),
        Tier(start=10_000_000, multiplier=Decimal("0.5")),
    )


def _default_plans() -> dict[str, Plan]:
    return {
        "starter": Plan(monthly_tokens=500_000, max_concurrent=5, monthly_fee=Decimal("299")),
        "standard": Plan(monthly_tokens=2_000_000, max_concurrent=20, monthly_fee=Decimal("999")),
        "professional": Plan(monthly_tokens=10_000_000, max_concurrent=100, monthly_fee=Decimal("3999")),
        "enterprise": Plan(monthly_tokens=50_000_000, max_concurrent=500, monthly_fee=Decimal("14999")),
    }


class PriceBook(BaseModel):
    """Prices, tiers, plans and discounts. `PriceBook()` is the built-in default of docs/pricing.md.

    A book is one price version, in force from `effective_from` (None: from the beginning of
    time); `later_versions` are the versions that follow it, in order (docs/pricing.md §11).
    The object callers hold is the first version; `at(instant)` is the one in force then."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    effective_from: datetime | None = None
    later_versions: tuple[PriceBook, ...] = ()
    currency: str = "CNY"
    base_per_1k: Decimal = BASE_PER_1K
    models: dict[str, ModelPrice] = Field(default_factory=_default_models)
    regions: dict[str, Decimal] = Field(
        default_factory=lambda: {
            "us-west": Decimal("1.0"),
            "eu-central": Decimal("0.9"),
            "ap-southeast": Decimal("0.8"),
        }
    )
    default_region_multiplier: Decimal = Decimal("1.0")
    off_peak: OffPeak = OffPeak()
    billing_timezone: str = "Asia/Shanghai"
    tiers: tuple[Tier, ...] = Field(default_factory=_default_tiers)
    plans: dict[str, Plan] = Field(default_factory=_default_plans)
    discounts: Discounts = Discounts()
    custom_plan: CustomPlanRates = CustomPlanRates()
    hints: Hints = Hints()

    @field_validator("billing_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _check(self) -> PriceBook:
        starts = [t.start for t in self.tiers]
        if not starts or starts[0] != 0 or starts != sorted(set(starts)):
            raise ValueError("tiers must start at 0 and have strictly increasing starts")
        if "payg" in self.plans:
            raise ValueError("'payg' is not a plan name: it means no plan")
        if self.effective_from is not None and self.effective_from.utcoffset() is None:
            raise ValueError("effective_from must carry a UTC offset, e.g. 2026-11-15T00:00:00+08:00")
        self._check_precision()
        self._check_versions()
        return self

    def _check_versions(self) -> None:
        previous = self.effective_from
        for version in self.later_versions:
            if version.effective_from is None or (previous is not None and version.effective_from <= previous):
                raise ValueError("price versions must have strictly increasing effective_from")
            if (version.currency, version.billing_timezone) != (self.currency, self.billing_timezone):
                raise ValueError("currency and billing_timezone are the same in every price version")
            if version.later_versions:
                raise ValueError("a later price version cannot hold versions of its own")
            previous = version.effective_from

    @property
    def versions(self) -> tuple[PriceBook, ...]:
        """Every version, oldest first (this one first)."""
        return (self, *self.later_versions)

    def at(self, instant: datetime) -> PriceBook:
        """The version in force at `instant`; before the first `effective_from`, the first."""
        for version in reversed(self.later_versions):
            if version.effective_from is not None and version.effective_from <= instant:
                return version
        return self

    def for_month(self, month: str, timezone: str) -> PriceBook:
        """The version whose plan fees, quotas, tiers and discounts bill `month` ('YYYY-MM'):
        the one in force at the month's first instant in `timezone` (the account's billing zone)."""
        if not self.later_versions:
            return self
        return self.at(month_start(month, timezone))

    @property
    def version_label(self) -> str:
        """What a rated event records as its price version: `effective_from` in UTC, or
        'initial' for a version in force from the beginning of time."""
        if self.effective_from is None:
            return "initial"
        return self.effective_from.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def _check_precision(self) -> None:
        """A list cost must fit Decimal(38, 12) unrounded: price scale + 3 (per 1,000 tokens) +
        region scale + off-peak scale <= 12."""
        prices = [p for m in self.models for p in self.token_prices(m)]
        regions = [*self.regions.values(), self.default_region_multiplier]
        digits = (
            max(_scale(p) for p in prices)
            + 3
            + max(_scale(r) for r in regions)
            + max(_scale(self.off_peak.multiplier), 0)
        )
        if digits > MAX_COST_SCALE:
            raise ValueError(
                f"prices and multipliers need {digits} decimal places for an exact list cost; "
                f"at most {MAX_COST_SCALE} fit the warehouse's Decimal(38, 12)"
            )

    def input_per_1k(self, model: str) -> Decimal:
        price = self.models[model]
        return price.input_per_1k if price.input_per_1k is not None else self.base_per_1k * price.multiplier

    def output_per_1k(self, model: str) -> Decimal:
        price = self.models[model]
        if price.output_per_1k is not None:
            return price.output_per_1k
        return self.base_per_1k * price.multiplier

    def token_prices(self, model: str) -> TokenPrices:
        price = self.models[model]
        input_price, output_price = self.input_per_1k(model), self.output_per_1k(model)
        return TokenPrices(
            input=input_price,
            cached_input=input_price if price.cached_input_per_1k is None else price.cached_input_per_1k,
            cache_write=input_price if price.cache_write_per_1k is None else price.cache_write_per_1k,
            output=output_price,
            reasoning=output_price if price.reasoning_per_1k is None else price.reasoning_per_1k,
        )

    def region_multiplier(self, region: str | None) -> Decimal:
        if not region:
            return self.default_region_multiplier
        return self.regions[region]


def load_price_book(path: Path | None) -> PriceBook:
    """The built-in book when `path` is None, else the file (YAML or JSON) over the defaults."""
    if path is None:
        return PriceBook()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PriceBookError(f"cannot read price book {path}: {exc.strerror}") from exc
    try:
        data: Any = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PriceBookError(f"price book {path} is not valid YAML/JSON: {first_line}") from exc
    return price_book_from_data(data, str(path))


def price_book_from_data(data: Any, source: str = "price book") -> PriceBook:
    """A book from parsed YAML/JSON: one version, or top-level defaults plus `versions`, each
    version changing the one before it (docs/pricing.md, "Price book file")."""
    data = dict(data or {}) if isinstance(data, dict) or data is None else data
    if not isinstance(data, dict):
        raise PriceBookError(f"{source}: expected a mapping of settings, got {type(data).__name__}")
    if "later_versions" in data:
        raise PriceBookError(f"{source}: later_versions: not a setting (write the versions under `versions`)")
    versions = data.pop("versions", None)
    if versions is None:
        return _validated(data, source, "")
    if not isinstance(versions, list) or not versions:
        raise PriceBookError(f"{source}: versions: must be a non-empty list")
    books: list[PriceBook] = []
    for n, changes in enumerate(versions):
        where = f"versions[{n}]"
        if not isinstance(changes, dict) or "effective_from" not in changes:
            raise PriceBookError(f"{source}: {where}: each version needs an effective_from")
        if "versions" in changes or "later_versions" in changes:
            raise PriceBookError(f"{source}: {where}: a version cannot hold versions")
        # the first version: the file's top-level settings over the defaults; each later one:
        # the version before it, resolved, with its changes
        before = books[-1].model_dump(exclude={"effective_from", "later_versions"}) if books else data
        books.append(_validated(_merged(before, changes), source, where + "."))
    try:
        return PriceBook.model_validate({**books[0].model_dump(), "later_versions": books[1:]})
    except ValidationError as exc:
        raise PriceBookError(f"{source}: versions: {exc.errors()[0]['msg']}") from exc


_MERGED_BY_ENTRY = ("models", "plans", "regions")


def _merged(settings: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` over `settings`: a model, plan or region named in a version replaces that
    entry (the others stay); any other setting it names replaces the setting."""
    merged = dict(settings)
    for key, value in changes.items():
        if key in _MERGED_BY_ENTRY and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _validated(data: dict[str, Any], source: str, prefix: str) -> PriceBook:
    try:
        return PriceBook.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = (prefix + ".".join(str(p) for p in first["loc"])).rstrip(".") or "settings"
        raise PriceBookError(f"{source}: {where}: {first['msg']}") from exc
