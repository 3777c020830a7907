-- Invoice lines of every account-month of billing_period's range (see invoice_lines_for).
CREATE OR REPLACE VIEW invoice_lines AS
SELECT *
FROM invoice_lines_for(month_from = (SELECT first_month FROM billing_period),
                       month_to = (SELECT last_month FROM billing_period),
                       account = '')
