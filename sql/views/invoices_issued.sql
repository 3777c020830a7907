-- invoices_issued: the issued invoices of complete closes (invoice_closes.complete = 1), one per
-- account and month: the first copy written (a copy stored twice by racing closes is ignored).
-- The columns of issued_invoices; see sql/0302_issued_invoices.sql.
CREATE OR REPLACE VIEW invoices_issued AS
SELECT *
FROM issued_invoices
WHERE run_id IN (SELECT run_id FROM invoice_closes WHERE complete = 1)
ORDER BY month, account_id, written_at
LIMIT 1 BY month, account_id
