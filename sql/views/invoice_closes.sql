-- invoice_closes: one row per close of a month (usageflow invoice close), the first record
-- written for each (month, seq) (two closes racing for one seq: the later follows the first),
-- with `complete` = 1 once all its invoices are stored. `last_number` = first_number +
-- length(accounts) − 1 (first_number − 1 for a close that issued nothing). A month is closed
-- once it has a complete run of scope '' (the whole month).
CREATE OR REPLACE VIEW invoice_closes AS
SELECT
    run_id,
    month,
    seq,
    scope,
    accounts,
    first_number,
    toUInt32(first_number + length(accounts) - 1) AS last_number,
    issued_at,
    written_at,
    toUInt8(run_id IN (SELECT run_id FROM invoice_close_done)) AS complete
FROM
(
    SELECT *
    FROM invoice_close_runs
    ORDER BY month, seq, written_at, cityHash64(accounts)
    LIMIT 1 BY month, seq
)
