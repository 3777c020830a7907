-- Plans of the current price book, `payg` included (is_payg = 1: no fee, no quota).
CREATE VIEW IF NOT EXISTS plan_options AS
SELECT plan, is_payg, monthly_tokens, max_concurrent, monthly_fee
FROM price_plans
WHERE version = (SELECT max(version) FROM price_book_versions)
