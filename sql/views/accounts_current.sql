-- accounts_current: the newest version of every account that is not deleted. FINAL collapses
-- the versions first; the `deleted` filter sits outside it so a delete is never filtered away
-- before the row it replaces.
-- Served from a snapshot (docs/design.md, "Billing snapshots"): `accounts_current_computed`
-- computes the rows, the table `accounts_current_snapshot` holds its last result and
-- `accounts_current` reads that table. usageflow.billing.snapshots rebuilds the table whenever
-- usageflow writes the price book or an account; migrate rebuilds it whenever this file, or a
-- file it reads, changed.
CREATE OR REPLACE VIEW accounts_current_computed AS
SELECT
    account_id,
    plan,
    extra_tokens,
    extra_concurrent,
    prepaid,
    contract_months,
    educational,
    timezone,
    monthly_budget,
    updated_at
FROM
(
    SELECT * FROM accounts FINAL
)
WHERE deleted = 0;

CREATE OR REPLACE TABLE accounts_current_snapshot ENGINE = MergeTree ORDER BY tuple()
AS SELECT * FROM accounts_current_computed;

CREATE OR REPLACE VIEW accounts_current AS SELECT * FROM accounts_current_snapshot
