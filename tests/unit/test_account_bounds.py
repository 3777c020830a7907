"""Every Account field is bounded to what the warehouse columns and the billing sums hold; a
record outside the bounds is rejected whole, never clamped."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.fixtures.hostile import HOSTILE_ACCOUNTS
from usageflow.errors import ValidationFailure
from usageflow.pricing.price_book import PriceBook
from usageflow.schemas import Account
from usageflow.schemas.decode import decode_account

pytestmark = pytest.mark.unit

UINT32 = 2**32 - 1
UINT64 = 2**64 - 1
DECIMAL_38_12_MAX = Decimal(10**26) - Decimal("1e-12")
BOOK = PriceBook()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("contract_months", 99_999_999_999),
        ("contract_months", 1201),
        ("contract_months", -1),
        ("extra_concurrent", 4_294_967_296),
        ("extra_concurrent", 100_001),
        ("extra_tokens", 10**12 + 1),
        ("extra_tokens", 2**64),
        ("monthly_budget", "1e30"),
        ("monthly_budget", "1000000000000.000000000001"),
        ("monthly_budget", "0.0000000000001"),  # 13 decimals: the column would round it
        ("monthly_budget", "NaN"),
        ("monthly_budget", "Infinity"),
        ("monthly_budget", -1),
        ("timezone", "localtime"),
        ("timezone", "../../etc/passwd"),
        ("timezone", "Mars/Olympus"),
        ("timezone", "A" * 65),
        ("account_id", "x" * 129),
        ("plan", "platinum"),
    ],
)
def test_out_of_bounds_fields_reject_the_whole_record(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        Account.model_validate({"account_id": "a", field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("contract_months", 1200),
        ("extra_concurrent", 100_000),
        ("extra_tokens", 10**12),
        ("monthly_budget", "1000000000000"),
        ("monthly_budget", "0.000000000001"),
        ("timezone", "Pacific/Kiritimati"),
    ],
)
def test_the_bounds_themselves_are_accepted(field: str, value: object) -> None:
    assert Account.model_validate({"account_id": "a", field: value}) is not None


@settings(max_examples=300, deadline=None)
@given(
    extra_tokens=st.integers(0, 10**12),
    extra_concurrent=st.integers(0, 100_000),
    contract_months=st.integers(0, 1200),
    budget=st.decimals(min_value=0, max_value=10**12, places=12, allow_nan=False, allow_infinity=False),
)
def test_any_accepted_account_fits_the_columns_and_the_billing_sums(
    extra_tokens: int, extra_concurrent: int, contract_months: int, budget: Decimal
) -> None:
    account = Account(
        account_id="a",
        plan="enterprise",
        extra_tokens=extra_tokens,
        extra_concurrent=extra_concurrent,
        contract_months=contract_months,
        monthly_budget=budget,
    )
    biggest = max(BOOK.plans.values(), key=lambda p: p.monthly_tokens)
    assert biggest.monthly_tokens + account.extra_tokens <= UINT64  # quota, UInt64
    assert max(p.max_concurrent for p in BOOK.plans.values()) + account.extra_concurrent <= UINT32
    assert account.contract_months <= UINT32
    assert account.monthly_budget is not None and account.monthly_budget <= DECIMAL_38_12_MAX
    assert account.monthly_budget == account.monthly_budget.quantize(Decimal("1e-12"))  # no rounding
    fee_part = account.extra_tokens * BOOK.custom_plan.extra_tokens_per_1k / 1000
    assert fee_part < 10**23  # toDecimal128(..., 15) keeps 38 - 15 integer digits


@pytest.mark.parametrize(("value", "key", "why"), HOSTILE_ACCOUNTS, ids=[h[2] for h in HOSTILE_ACCOUNTS])
def test_hostile_account_records_are_invalid_accounts(value: bytes, key: bytes | None, why: str) -> None:
    try:
        account = decode_account(value)
    except ValidationFailure as exc:
        assert exc.reason == "invalid_account"
        assert "\n" not in exc.message
        return
    assert why == "key" and key != account.account_id.encode()  # valid alone, refused for its key


def test_a_duplicate_key_in_an_account_is_refused() -> None:
    with pytest.raises(ValidationFailure) as info:
        decode_account(b'{"account_id": "a", "plan": "payg", "plan": "enterprise"}')
    assert info.value.reason == "invalid_account" and "duplicate key 'plan'" in info.value.message
