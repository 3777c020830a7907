-- Snapshots of the small billing inputs every invoice reads: the current price book, its plans,
-- the current accounts and their billing terms. As views they were re-evaluated by every
-- billing query (accounts FINAL × price book × plans, several scalar subqueries each: 50–100 ms
-- of every invoice at 1,000 accounts); as tables they cost a couple of milliseconds.
--
-- How it works: each view keeps its name and now reads `<name>_snapshot`; the computing view
-- is renamed `<name>_computed`. Only usageflow.billing.tables writes the inputs (price book
-- loads, account upserts), and each write rebuilds the snapshots it affects through
-- usageflow.billing.snapshots: fill a fresh table from `<name>_computed`, swap it in with
-- EXCHANGE TABLES (atomic: a reader sees the old or the new snapshot, never half), then check
-- the snapshot against `<name>_computed` and rebuild again if another writer raced it.
-- Order matters: account_terms_computed reads the price_book, plan_options and
-- accounts_current snapshots, so they are rebuilt first. Anyone writing the input tables by
-- hand runs `usageflow migrate` afterwards (it reloads the price book, which rebuilds them all).
CREATE TABLE IF NOT EXISTS price_book_snapshot ENGINE = MergeTree ORDER BY tuple()
AS SELECT * FROM price_book;
RENAME TABLE price_book TO price_book_computed;
CREATE VIEW price_book AS SELECT * FROM price_book_snapshot;

CREATE TABLE IF NOT EXISTS plan_options_snapshot ENGINE = MergeTree ORDER BY plan
AS SELECT * FROM plan_options;
RENAME TABLE plan_options TO plan_options_computed;
CREATE VIEW plan_options AS SELECT * FROM plan_options_snapshot;

CREATE TABLE IF NOT EXISTS accounts_current_snapshot ENGINE = MergeTree ORDER BY account_id
AS SELECT * FROM accounts_current;
RENAME TABLE accounts_current TO accounts_current_computed;
CREATE VIEW accounts_current AS SELECT * FROM accounts_current_snapshot;

-- plan_known is LowCardinality(UInt8) in the view, a type tables may not have: stored as UInt8.
CREATE TABLE IF NOT EXISTS account_terms_snapshot ENGINE = MergeTree ORDER BY account_id
AS SELECT * REPLACE (CAST(plan_known AS UInt8) AS plan_known) FROM account_terms;
RENAME TABLE account_terms TO account_terms_computed;
CREATE VIEW account_terms AS SELECT * FROM account_terms_snapshot
