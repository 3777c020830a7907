-- The newest version of every account that is not deleted. FINAL collapses the versions
-- first; the `deleted` filter sits outside it so a delete is never filtered away before the
-- row it replaces.
CREATE VIEW IF NOT EXISTS accounts_current AS
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
WHERE deleted = 0
