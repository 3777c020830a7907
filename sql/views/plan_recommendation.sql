-- Plan recommendation for every account, based on the last full month (billing_period) with
-- the default growth of 20 % (see plan_recommendation_for for other months or growth).
CREATE OR REPLACE VIEW plan_recommendation AS
SELECT *
FROM plan_recommendation_for(month = (SELECT last_full_month FROM billing_period),
                             account = '',
                             growth = toDecimal128('0.2', 12))
