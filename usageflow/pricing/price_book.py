"""The price book of docs/pricing.md §1 and §3–5, loadable from a YAML/JSON file.

Every number is a Decimal; files may give numbers or strings (strings are recommended so YAML
never turns a price into a float first).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from usageflow.errors import PriceBookError

BASE_PER_1K = Decimal("0.006")
MAX_COST_SCALE = 12


def _scale(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


class ModelPrice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    multiplier: Decimal = Decimal("1")
    input_per_1k: Decimal | None = None
    output_per_1k: Decimal | None = None
    flagship: bool = False


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
    """Prices, tiers, plans and discounts. `PriceBook()` is the built-in default of docs/pricing.md."""

    model_config = ConfigDict(frozen=True, extra="forbid")

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
        self._check_precision()
        return self

    def _check_precision(self) -> None:
        """A list cost must fit Decimal(38, 12) unrounded: price scale + 3 (per 1,000 tokens) +
        region scale + off-peak scale <= 12."""
        prices = [self.input_per_1k(m) for m in self.models] + [self.output_per_1k(m) for m in self.models]
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
    try:
        return PriceBook.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PriceBookError(f"price book {path}: {where}: {first['msg']}") from exc
