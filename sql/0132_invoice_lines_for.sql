-- The lines of the invoices of invoices_for, in the order of docs/pricing.md §6: plan_fee (not for
-- payg), usage (always, `tokens` = billable tokens; 0.00 without usage), then the discounts
-- that apply (negative). line_no counts 1, 2, … within an invoice.
CREATE VIEW IF NOT EXISTS invoice_lines_for AS
SELECT
    account_id,
    month,
    toUInt8(line_index) AS line_no,
    line.1 AS kind,
    line.2 AS amount,
    line.3 AS tokens
FROM invoice_base_for(month_from = {month_from:String}, month_to = {month_to:String},
                      account = {account:String})
ARRAY JOIN
    arrayFilter(
        x -> x.4 = 1,
        [
            ('plan_fee', amount_plan_fee, CAST(NULL AS Nullable(UInt64)), toUInt8(is_payg = 0)),
            ('usage', amount_usage, CAST(billable_tokens AS Nullable(UInt64)), toUInt8(1)),
            ('discount_prepaid', amount_discount_prepaid, CAST(NULL AS Nullable(UInt64)),
                toUInt8(prepaid)),
            ('discount_contract', amount_discount_contract, CAST(NULL AS Nullable(UInt64)),
                toUInt8(contract)),
            ('discount_educational', amount_discount_educational, CAST(NULL AS Nullable(UInt64)),
                toUInt8(educational))
        ]
    ) AS line,
    arrayEnumerate(
        arrayFilter(x -> x = 1, [toUInt8(is_payg = 0), 1, prepaid, contract, educational])
    ) AS line_index
