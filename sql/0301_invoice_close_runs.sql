-- Closing a month (docs/pricing.md §12, docs/billing-cycle.md), step one: the close record.
-- Before any invoice is written, a close writes one row here naming the accounts it issues, in
-- account-id order, and the number of the first one: account i of `accounts` gets invoice
-- number `first_number + i` (INV-YYYYMM-NNNNNN). So the numbers are decided before the
-- invoices exist, and a close that was killed half-way is completed by the next one with the
-- same numbers: no gap, no number twice.
-- `seq` counts the closes of a month (1, 2, …); `run_id` is 'YYYY-MM/seq'. `scope` is '' for a
-- close of the whole month, else the one account it was asked for. Every invoice of a run gets
-- the run's `issued_at`.
-- Plain MergeTree: two closes racing for the same `seq` both land; the first one written wins
-- (view invoice_closes) and the other close follows it.
CREATE TABLE IF NOT EXISTS invoice_close_runs
(
    run_id        String,
    month         String,
    seq           UInt32,
    scope         String,
    accounts      Array(String),
    first_number  UInt32,
    issued_at     DateTime64(3, 'UTC'),
    written_at    DateTime64(6, 'UTC')
)
ENGINE = MergeTree
ORDER BY (month, seq, written_at);

-- Step three: a run is complete once every invoice it names is stored; this row says so. Readers
-- only see the invoices of complete runs (view invoices_issued).
CREATE TABLE IF NOT EXISTS invoice_close_done
(
    run_id        String,
    month         String,
    completed_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (month, run_id)
