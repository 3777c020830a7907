-- Invoices of every account-month of billing_period's range (see invoices_for).
CREATE OR REPLACE VIEW invoices AS
SELECT *
FROM invoices_for(month_from = (SELECT first_month FROM billing_period),
                  month_to = (SELECT last_month FROM billing_period),
                  account = '')
