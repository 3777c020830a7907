-- invoice_base_for: the invoice arithmetic, one row per account and month, for the months
-- {month_from}..{month_to} ('YYYY-MM', inclusive) and one account ({account}) or all ('').
-- Parameterised view: SELECT * FROM invoice_base_for(month_from='2026-11',
-- month_to='2026-11', account='').
--
-- Which account-months: every account with usage in a month, plus every known account with a
-- plan (not payg) for every month of the range (so its plan fee is billed without usage),
-- plus the requested {account} itself for every month. Terms come from billing_terms: the
-- account's own, or those of an unknown account (payg, no discounts), under the price version
-- that bills the month (in force at its first instant in the account's billing time zone:
-- usageflow_month_version_v1 over price_month_versions). Usage is the list cost as rated,
-- each event at the version in force at its own event time.
--
-- Exactness: with T tokens, list cost L, billable tokens B (T − quota for plans, T for payg),
-- W = usageflow_tier_weight_v1(B), fee F and discount factors p, c, e, every line is
-- (exact numerator) / D with D = max(T, 1), computed in Decimal256 and rounded once
-- (usageflow_fen_v1, usageflow_discounts_v1):
--   usage       = L·W / D                                  (= L_overage × M(overage))
--   prepaid     = (F·D + L·W)·(p − 1) / D
--   contract    = (F·D + L·W)·p·(c − 1) / D
--   educational = (F·D + L·W)·p·c·(e − 1) / D
-- Scales: L 12, W 6, F 15, factors 6 → numerators of scale 18 (usage) to 36 (educational) in
-- Decimal(76, ·), leaving 40 integer digits. The one division truncates at that scale (≥ 18),
-- which cannot move a value across a half-fen boundary (a boundary is representable there),
-- and round(x, 2) on Decimal rounds half away from zero. Never truncate before multiplying.
CREATE OR REPLACE VIEW invoice_base_for AS
SELECT
    account_id,
    month,
    currency,
    version,
    price_version,
    plan,
    is_payg,
    known_account,
    tokens,
    list_cost,
    events,
    last_usage_date,
    quota,
    billable_tokens,
    extra_tokens,
    fee,
    prepaid,
    contract,
    educational,
    prepaid_factor,
    contract_factor,
    educational_factor,
    tier_weight,
    denominator,
    usage_numerator,
    subtotal_numerator,
    if(is_payg = 1, toDecimal128(0, 2), CAST(round(fee, 2) AS Decimal(38, 2))) AS amount_plan_fee,
    usageflow_fen_v1(usage_numerator, denominator) AS amount_usage,
    discounts.1 AS amount_discount_prepaid,
    discounts.2 AS amount_discount_contract,
    discounts.3 AS amount_discount_educational,
    amount_plan_fee + amount_usage + amount_discount_prepaid + amount_discount_contract
        + amount_discount_educational AS total,
    tier_starts,
    tier_ends,
    tier_multipliers
FROM
(
    SELECT
        x_month.account_id AS account_id,
        x_month.month AS month,
        x_book.currency AS currency,
        x_terms.version AS version,
        x_book.price_version AS price_version,
        x_terms.known AS known_account,
        x_terms.plan AS plan,
        x_terms.is_payg AS is_payg,
        x_month.month_tokens AS tokens,
        x_month.month_list_cost AS list_cost,
        x_month.month_events AS events,
        x_month.month_last_date AS last_usage_date,
        x_terms.quota AS quota,
        if(tokens > quota, tokens - quota, 0) AS billable_tokens,
        x_terms.extra_tokens AS extra_tokens,
        x_terms.fee AS fee,
        x_terms.prepaid AS prepaid,
        x_terms.contract AS contract,
        x_terms.educational AS educational,
        x_terms.prepaid_factor AS prepaid_factor,
        x_terms.contract_factor AS contract_factor,
        x_terms.educational_factor AS educational_factor,
        x_book.tier_starts AS tier_starts,
        x_book.tier_ends AS tier_ends,
        x_book.tier_multipliers AS tier_multipliers,
        usageflow_tier_weight_v1(billable_tokens, x_book.tier_starts, x_book.tier_ends, x_book.tier_multipliers)
            AS tier_weight,
        greatest(tokens, 1) AS denominator,
        toDecimal256(list_cost, 12) * tier_weight AS usage_numerator,
        toDecimal256(fee, 15) * denominator + usage_numerator AS subtotal_numerator,
        usageflow_discounts_v1(subtotal_numerator, denominator, prepaid, contract, educational,
                               prepaid_factor, contract_factor, educational_factor) AS discounts
    FROM
    (
        SELECT
            account_id,
            month,
            sum(u_tokens) AS month_tokens,
            sum(u_cost) AS month_list_cost,
            sum(u_events) AS month_events,
            max(u_last) AS month_last_date,
            if(account_id IN (SELECT account_id FROM account_terms), account_id, '') AS terms_key
        FROM
        (
            SELECT
                toString(account_id) AS account_id,
                toString(billing_month) AS month,
                tokens AS u_tokens,
                list_cost AS u_cost,
                events AS u_events,
                last_usage_date AS u_last
            FROM monthly_usage
            WHERE billing_month >= {month_from:String} AND billing_month <= {month_to:String}
              AND ({account:String} = '' OR account_id = {account:String})
            UNION ALL
            SELECT
                x_keys.account_id AS account_id,
                x_calendar.month AS month,
                toUInt64(0) AS u_tokens,
                toDecimal128(0, 12) AS u_cost,
                toUInt64(0) AS u_events,
                toDate(0) AS u_last
            FROM
            (
                SELECT account_id
                FROM accounts_current
                WHERE plan IN (SELECT plan FROM plan_options WHERE is_payg = 0)
                  AND ({account:String} = '' OR account_id = {account:String})
                UNION DISTINCT
                SELECT {account:String} AS account_id
                WHERE {account:String} != ''
            ) AS x_keys
            CROSS JOIN
            (
                SELECT formatDateTime(
                           addMonths(toDate(concat({month_from:String}, '-01')), toInt32(number)),
                           '%Y-%m') AS month
                FROM numbers(toUInt64(greatest(0, dateDiff('month',
                    toDate(concat({month_from:String}, '-01')),
                    toDate(concat({month_to:String}, '-01'))) + 1)))
            ) AS x_calendar
        )
        GROUP BY account_id, month
    ) AS x_month
    INNER JOIN billing_terms AS x_terms ON x_terms.account_id = x_month.terms_key
    LEFT JOIN price_month_versions AS x_starts ON x_starts.timezone = x_terms.billing_tz
    INNER JOIN price_book AS x_book ON x_book.version = x_terms.version
    WHERE x_terms.version = usageflow_month_version_v1(
        x_starts.starts, x_month.month, (SELECT min(version) FROM price_book))
)
