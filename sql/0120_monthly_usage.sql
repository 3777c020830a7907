-- Usage per account and billing month (the month in the account's time zone, as rated by the
-- stream): tokens T and list cost L of docs/pricing.md §3. Reads rated_events FINAL so an event id
-- that arrived twice counts once.
CREATE VIEW IF NOT EXISTS monthly_usage AS
SELECT
    account_id,
    billing_month,
    count() AS events,
    sum(in_tokens) AS input_tokens,
    sum(out_tokens) AS output_tokens,
    sum(all_tokens) AS tokens,
    sum(cost) AS list_cost,
    min(billing_date) AS first_usage_date,
    max(billing_date) AS last_usage_date
FROM
(
    SELECT
        account_id,
        billing_month,
        billing_date,
        toUInt64(input_tokens) AS in_tokens,
        toUInt64(output_tokens) AS out_tokens,
        toUInt64(input_tokens) + output_tokens AS all_tokens,
        list_cost AS cost
    FROM rated_events FINAL
)
GROUP BY account_id, billing_month
