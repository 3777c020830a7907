-- plan_options: the plans of the current price book, `payg` included (is_payg = 1: no fee,
-- no quota).
-- Served from a snapshot (docs/design.md, "Billing snapshots"): `plan_options_computed` computes
-- the rows, the table `plan_options_snapshot` holds its last result and `plan_options` reads
-- that table. usageflow.billing.snapshots rebuilds the table whenever usageflow writes the price
-- book or an account; migrate rebuilds it whenever this file, or a file it reads, changed.
CREATE OR REPLACE VIEW plan_options_computed AS
SELECT plan, is_payg, monthly_tokens, max_concurrent, monthly_fee
FROM price_plans
WHERE version = (SELECT max(version) FROM price_book_versions);

CREATE OR REPLACE TABLE plan_options_snapshot ENGINE = MergeTree ORDER BY tuple()
AS SELECT * FROM plan_options_computed;

CREATE OR REPLACE VIEW plan_options AS SELECT * FROM plan_options_snapshot
