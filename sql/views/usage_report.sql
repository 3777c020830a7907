-- Usage report of every account-month of billing_period's range as of today in the price
-- book's billing time zone (see usage_report_for).
CREATE OR REPLACE VIEW usage_report AS
SELECT *
FROM usage_report_for(month_from = (SELECT first_month FROM billing_period),
                      month_to = (SELECT last_month FROM billing_period),
                      account = '',
                      as_of = (SELECT today_local FROM billing_period))
