-- Plan recommendation of docs/pricing.md §8, one row per account (the recommendation columns of
-- plan_quotes_for): SELECT * FROM plan_recommendation_for(month='2026-10',
-- account='', growth=0.2).
CREATE VIEW IF NOT EXISTS plan_recommendation_for AS
SELECT
    account_id,
    month,
    any(growth) AS growth,
    any(base_tokens) AS base_tokens,
    any(projected_tokens) AS projected_tokens,
    any(current_plan) AS current_plan,
    any(current_cost) AS current_cost,
    any(recommended_plan) AS recommended_plan,
    any(recommended_cost) AS recommended_cost,
    any(saving) AS saving
FROM plan_quotes_for(month = {month:String}, account = {account:String},
                     growth = {growth:Decimal(38, 12)})
GROUP BY account_id, month
