-- credit_draws: what each issued invoice drew from each grant (the `credits` line split by
-- grant, in draw order).
CREATE OR REPLACE VIEW credit_draws AS
SELECT
    month,
    account_id,
    number,
    grant_id,
    amount
FROM invoices_issued
ARRAY JOIN
    draw_grant_id AS grant_id,
    draw_amount AS amount
