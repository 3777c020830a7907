-- Accounts (docs/events.md "Account"): plan, custom-plan additions and discounts of one customer.
-- The stream (and `usageflow accounts load`) upserts rows through usageflow.billing.tables;
-- a delete is a row with deleted = 1. Read it with FINAL (the view `accounts_current` does).
-- ReplacingMergeTree(updated_at): the newest version of an account wins, so upserts are plain
-- inserts and a replay of the compacted accounts topic is harmless.
-- ORDER BY account_id: the replacing key, and every billing query joins on account_id.
-- No PARTITION BY: the table is small (one row per customer) and FINAL must see all versions
-- of an account together.
CREATE TABLE IF NOT EXISTS accounts
(
    account_id        String,
    plan              LowCardinality(String),
    extra_tokens      UInt64,
    extra_concurrent  UInt32,
    prepaid           Bool,
    contract_months   UInt32,
    educational       Bool,
    timezone          Nullable(String),
    monthly_budget    Nullable(Decimal(38, 12)),
    updated_at        DateTime64(3, 'UTC'),
    deleted           UInt8
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY account_id
