-- issued_invoice_lines: the lines of the issued invoices, one row per line in invoice order
-- (line_no 1, 2, …): kind, amount, tokens (usage line only), for_month (adjustment lines only,
-- else '').
CREATE OR REPLACE VIEW issued_invoice_lines AS
SELECT
    month,
    account_id,
    number,
    toUInt16(line_no) AS line_no,
    kind,
    amount,
    tokens,
    for_month
FROM invoices_issued
ARRAY JOIN
    line_kind AS kind,
    line_amount AS amount,
    line_tokens AS tokens,
    line_for_month AS for_month,
    arrayEnumerate(line_kind) AS line_no
