-- credit_grants_current: one row per prepaid-credit grant id, the first one stored (a grant id
-- is never reused: `usageflow credits grant` refuses an id that exists with other terms).
CREATE OR REPLACE VIEW credit_grants_current AS
SELECT grant_id, account_id, amount, expires, priority, granted_at
FROM credit_grants
ORDER BY grant_id, written_at, granted_at
LIMIT 1 BY grant_id
