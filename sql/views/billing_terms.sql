-- billing_terms: the terms every invoice, report and plan quote bills with. The rows of
-- account_terms (known = 1), plus ONE row for every account usageflow does not know (never
-- loaded, or deleted), under the key account_id = '' (no real account id is empty): billed payg,
-- no quota, no fee, no discounts (known = 0), one row per price version like account_terms. A bill looks its terms up by
-- `if(known, account_id, '')` (see invoice_base_for), so these defaults are written only here.
-- Columns and their order are those of account_terms (UNION ALL matches by position).
-- A snapshot like account_terms (usageflow.billing.snapshots): every bill joins it, and planning
-- the union of the two views cost ~9 ms of each ~55 ms invoice query; it is rebuilt after
-- account_terms whenever accounts or the price book change.
CREATE OR REPLACE VIEW billing_terms_computed AS
SELECT * FROM account_terms
UNION ALL
SELECT
    '' AS account_id,
    toUInt8(0) AS plan_known,
    'payg' AS plan,
    toUInt8(1) AS is_payg,
    toUInt64(0) AS quota,
    toUInt32(0) AS max_concurrent,
    toUInt64(0) AS daily_token_limit,
    toUInt64(0) AS extra_tokens,
    toUInt32(0) AS extra_concurrent,
    toDecimal128(0, 15) AS fee,
    toUInt8(0) AS prepaid,
    toUInt8(0) AS contract,
    toUInt8(0) AS educational,
    toDecimal64(1, 6) AS prepaid_factor,
    toDecimal64(1, 6) AS contract_factor,
    toDecimal64(1, 6) AS educational_factor,
    toUInt32(0) AS contract_months,
    CAST(NULL AS Nullable(String)) AS timezone,
    CAST(NULL AS Nullable(Decimal(38, 12))) AS monthly_budget,
    toUInt8(0) AS known,
    x_book.version AS version,
    x_book.billing_timezone AS billing_tz
FROM price_book AS x_book;

CREATE OR REPLACE TABLE billing_terms_snapshot ENGINE = MergeTree ORDER BY tuple()
AS SELECT * FROM billing_terms_computed;

CREATE OR REPLACE VIEW billing_terms AS SELECT * FROM billing_terms_snapshot
