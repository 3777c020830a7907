-- Invoices of docs/pricing.md §6 for the months {month_from}..{month_to} and one {account} or all
-- (''): SELECT * FROM invoices_for(month_from='2026-11', month_to='2026-11', account='').
-- `tokens` is the month's total, `billable_tokens` those beyond the plan quota (all of them
-- for payg); `total` is the sum of the rounded lines (invoice_lines_for).
CREATE VIEW IF NOT EXISTS invoices_for AS
SELECT
    account_id,
    month,
    currency,
    plan,
    tokens,
    billable_tokens,
    list_cost,
    total
FROM invoice_base_for(month_from = {month_from:String}, month_to = {month_to:String},
                      account = {account:String})
