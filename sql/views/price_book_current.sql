-- price_book_current: the newest price version of the current price book (price_book), one
-- row: what plan quotes, cost hints and the billing period use. Invoices and usage reports bill
-- each month with its own version instead (invoice_base_for).
CREATE OR REPLACE VIEW price_book_current AS
SELECT * FROM price_book WHERE version = (SELECT max(version) FROM price_book)
