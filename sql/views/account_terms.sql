-- account_terms: the billing terms of every known account under each version of the current
-- price book (one row per account and `version`; a month is billed with the version in force at
-- its first instant, see invoice_base_for): quota and fee including the custom-plan additions,
-- and the discount factors that apply (1 where a discount does not apply). billing_tz: the
-- account's time zone, else the price book's. An account whose plan is not in the price book is billed as payg
-- (keeping its discounts). Accounts usageflow does not know (never loaded, or deleted) are not
-- here: billing_terms adds the terms they are billed with.
-- Served from a snapshot (docs/design.md, "Billing snapshots"): `account_terms_computed`
-- computes the rows, the table `account_terms_snapshot` holds its last result and
-- `account_terms` reads that table. usageflow.billing.snapshots rebuilds the table whenever
-- usageflow writes the price book or an account; migrate rebuilds it whenever this file, or a
-- file it reads, changed. It reads the price_book, plan_options and accounts_current
-- snapshots, so their snapshots are rebuilt first.
-- Columns end with `known`, `version`, `billing_tz`: billing_terms appends its rows by position.
CREATE OR REPLACE VIEW account_terms_computed AS
SELECT
    x_account.account_id AS account_id,
    CAST(x_plan.plan != '' AS UInt8) AS plan_known,
    if(plan_known, toString(x_account.plan), 'payg') AS plan,
    if(plan_known, x_plan.is_payg, 1) AS is_payg,
    if(is_payg = 1, toUInt64(0), x_plan.monthly_tokens + x_account.extra_tokens) AS quota,
    if(is_payg = 1, toUInt32(0), x_plan.max_concurrent + x_account.extra_concurrent) AS max_concurrent,
    intDiv(quota, 30) AS daily_token_limit,
    x_account.extra_tokens AS extra_tokens,
    x_account.extra_concurrent AS extra_concurrent,
    -- fee = monthly fee + extra_tokens / 1000 × rate + extra_concurrent × rate, exact at scale 15
    if(
        is_payg = 1,
        toDecimal128(0, 15),
        toDecimal128(
            toDecimal128(x_plan.monthly_fee, 15)
            + toDecimal128(x_account.extra_tokens * x_book.extra_tokens_per_1k, 15) / 1000
            + toDecimal128(x_account.extra_concurrent * x_book.extra_concurrent_each, 15),
            15
        )
    ) AS fee,
    toUInt8(x_account.prepaid) AS prepaid,
    toUInt8(x_account.contract_months >= x_book.contract_min_months) AS contract,
    toUInt8(x_account.educational) AS educational,
    if(prepaid = 1, x_book.prepaid_factor, toDecimal64(1, 6)) AS prepaid_factor,
    if(contract = 1, x_book.contract_factor, toDecimal64(1, 6)) AS contract_factor,
    if(educational = 1, x_book.educational_factor, toDecimal64(1, 6)) AS educational_factor,
    x_account.contract_months AS contract_months,
    x_account.timezone AS timezone,
    x_account.monthly_budget AS monthly_budget,
    toUInt8(1) AS known,
    x_book.version AS version,
    ifNull(x_account.timezone, x_book.billing_timezone) AS billing_tz
FROM accounts_current AS x_account
CROSS JOIN price_book AS x_book
LEFT JOIN
(
    SELECT version, plan, is_payg, monthly_tokens, max_concurrent, monthly_fee FROM price_plans
) AS x_plan ON x_plan.version = x_book.version AND x_plan.plan = x_account.plan;

CREATE OR REPLACE TABLE account_terms_snapshot ENGINE = MergeTree ORDER BY tuple()
AS SELECT * FROM account_terms_computed;

CREATE OR REPLACE VIEW account_terms AS SELECT * FROM account_terms_snapshot
