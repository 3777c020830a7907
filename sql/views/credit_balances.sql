-- credit_balances: every grant with what the issued invoices drew from it and what remains
-- (amount − drawn). Drafts do not draw: their credits line only shows what they would draw.
CREATE OR REPLACE VIEW credit_balances AS
SELECT
    g.grant_id AS grant_id,
    g.account_id AS account_id,
    g.amount AS amount,
    g.expires AS expires,
    g.priority AS priority,
    g.granted_at AS granted_at,
    CAST(ifNull(d.drawn, 0) AS Decimal(38, 2)) AS drawn,
    CAST(g.amount - drawn AS Decimal(38, 2)) AS remaining
FROM credit_grants_current AS g
LEFT JOIN
(
    SELECT grant_id, sum(amount) AS drawn FROM credit_draws GROUP BY grant_id
) AS d ON d.grant_id = g.grant_id
SETTINGS join_use_nulls = 1
