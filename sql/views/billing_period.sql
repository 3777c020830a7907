-- One row: today's date and the current month in the price book's billing time zone, the
-- previous (last full) month, and the range of months the un-parameterised billing views
-- cover: from the first month with usage (or the current month) through the later of the
-- current month and the last month with usage.
CREATE OR REPLACE VIEW billing_period AS
SELECT
    today_local,
    formatDateTime(today_local, '%Y-%m') AS current_month,
    formatDateTime(addMonths(toStartOfMonth(today_local), -1), '%Y-%m') AS last_full_month,
    if(n = 0, current_month, least(toString(min_month), current_month)) AS first_month,
    if(n = 0, current_month, greatest(toString(max_month), current_month)) AS last_month
FROM
(
    SELECT
        count() AS n,
        min(billing_month) AS min_month,
        max(billing_month) AS max_month,
        toDate(now(), ifNull(nullIf((SELECT any(billing_timezone) FROM price_book_current), ''), 'UTC'))
            AS today_local
    FROM rated_events
)
