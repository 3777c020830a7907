-- Prepaid credits (docs/pricing.md §13): money an account paid in advance, recorded by
-- `usageflow credits grant` (usageflow.billing.credits). One row per grant; `grant_id` makes a
-- grant idempotent: the command stores a grant only when its id is new.
-- `amount` is to the fen; `expires` is the last local date on which the grant still pays (NULL:
-- never expires): it pays a month whose last day is on or before that date. Grants are drawn
-- lowest `priority` first, then earliest `expires` (never-expiring last), then oldest
-- `granted_at`, then `grant_id`.
-- Plain MergeTree: two commands racing with one id both land; readers take the first one stored
-- (view credit_grants_current), like events, so the first grant of an id always wins.
-- ORDER BY (account_id, grant_id): balances are read per account.
CREATE TABLE IF NOT EXISTS credit_grants
(
    grant_id    String,
    account_id  String,
    amount      Decimal(38, 2),
    expires     Nullable(Date),
    priority    Int32,
    granted_at  DateTime64(3, 'UTC'),
    written_at  DateTime64(6, 'UTC')
)
ENGINE = MergeTree
ORDER BY (account_id, grant_id, written_at)
