"""`usageflow credits grant | balance` (docs/pricing.md §13): recording prepaid credits and
showing what each grant still holds.

A grant is stored once per id: granting an id again with the same terms changes nothing (the
command is idempotent); with other terms it is refused, so an id always means one grant. What a
grant still holds is its amount minus what issued invoices drew from it (view credit_balances);
drafts only show what they would draw.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from usageflow.billing import ledger
from usageflow.errors import UsageflowError
from usageflow.pricing.credits import Grant, GrantBalance, in_draw_order
from usageflow.schemas.common import IDENTIFIER
from usageflow.warehouse.client import Warehouse

MAX_AMOUNT = Decimal(10) ** 12  # CNY, like the accounts' budgets
EARLIEST_EXPIRY, LATEST_EXPIRY = date(1970, 1, 1), date(2149, 6, 6)  # the warehouse's Date range
PRIORITY_RANGE = (-(2**31), 2**31 - 1)
_AMOUNT = re.compile(r"\d{1,13}(\.\d{1,2})?")


class CreditError(UsageflowError):
    """A grant was refused (bad value, or an id already used for another grant)."""


def parse_amount(text: str) -> Decimal:
    """A grant amount: a positive number of CNY with at most two decimals (`100`, `75.5`)."""
    if not _AMOUNT.fullmatch(text or ""):
        raise CreditError(f"amount must be a positive number of CNY with at most 2 decimals, not {text!r}")
    try:
        amount = Decimal(text).quantize(Decimal("0.01"))
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
        raise CreditError(f"amount {text!r} is not a number") from exc
    if amount <= 0 or amount > MAX_AMOUNT:
        raise CreditError(f"amount must be more than 0 and at most {MAX_AMOUNT:,} CNY, not {text}")
    return amount


def parse_expiry(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        expires = date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
    except ValueError:
        expires = None
    if expires is None:
        raise CreditError(f"expires must be a date like 2027-06-30 (YYYY-MM-DD), not {text!r}")
    if not EARLIEST_EXPIRY <= expires <= LATEST_EXPIRY:
        raise CreditError(f"expires must be between {EARLIEST_EXPIRY} and {LATEST_EXPIRY}, not {text}")
    return expires


def check_id(what: str, value: str) -> str:
    if not IDENTIFIER.fullmatch(value or ""):
        raise CreditError(f"{what} must be 1–128 characters of A-Z a-z 0-9 . _ : -, not {value!r}")
    return value


def grant(
    warehouse: Warehouse,
    *,
    grant_id: str,
    account_id: str,
    amount: Decimal,
    expires: date | None = None,
    priority: int = 0,
    now: datetime | None = None,
) -> tuple[Grant, bool]:
    """Record a grant; (the grant as stored, whether it was new). The same id with the same
    terms is a no-op; with other terms a CreditError."""
    check_id("grant id", grant_id)
    check_id("account id", account_id)
    if not PRIORITY_RANGE[0] <= priority <= PRIORITY_RANGE[1]:
        raise CreditError(f"priority must be a 32-bit integer, not {priority}")
    wanted = Grant(grant_id, account_id, amount, expires, priority, (now or datetime.now(UTC)))
    found = _stored(warehouse, grant_id)
    if found is None:
        stamp = datetime.now(UTC)
        warehouse.insert_rows(
            "credit_grants",
            [[grant_id, account_id, amount, expires, priority, wanted.granted_at, stamp]],
            ["grant_id", "account_id", "amount", "expires", "priority", "granted_at", "written_at"],
        )
        found = _stored(warehouse, grant_id)
        assert found is not None
        if _same_terms(found, wanted):
            return found, True
    if not _same_terms(found, wanted):
        raise CreditError(
            f"grant id {grant_id!r} is already a grant of {found.amount} CNY to {found.account_id!r} "
            f"(expires {found.expires or 'never'}, priority {found.priority}): a grant id is never reused"
        )
    return found, False


def _same_terms(a: Grant, b: Grant) -> bool:
    return (a.account_id, a.amount, a.expires, a.priority) == (b.account_id, b.amount, b.expires, b.priority)


def _stored(warehouse: Warehouse, grant_id: str) -> Grant | None:
    rows = warehouse.query(
        "SELECT grant_id, account_id, amount, expires, priority, granted_at FROM credit_grants_current "
        "WHERE grant_id = {g:String}",
        {"g": grant_id},
    )
    if not rows:
        return None
    r = rows[0]
    at = r["granted_at"]
    return Grant(
        r["grant_id"],
        r["account_id"],
        Decimal(r["amount"]),
        r["expires"],
        int(r["priority"]),
        at if at.tzinfo else at.replace(tzinfo=UTC),
    )


def balance(warehouse: Warehouse, account_id: str) -> list[GrantBalance]:
    """The account's grants in draw order, with what issued invoices drew from each."""
    return in_draw_order(ledger.grant_balances(warehouse, [account_id]).get(account_id, []))


def balance_json(b: GrantBalance) -> dict[str, object]:
    """The shape of `usageflow credits balance --format json` (docs/cli.md §4)."""
    return {
        "grant_id": b.grant.grant_id,
        "amount": f"{b.grant.amount:.2f}",
        "remaining": f"{b.remaining:.2f}",
        "expires": b.grant.expires.isoformat() if b.grant.expires else None,
        "priority": b.grant.priority,
    }
