-- The invoice arithmetic of docs/pricing.md §3–6, one row per account and month, for the months
-- {month_from}..{month_to} ('YYYY-MM', inclusive) and one account ({account}) or all ('').
-- Parameterised view: SELECT * FROM invoice_base_for(month_from='2026-11',
-- month_to='2026-11', account='').
--
-- Which account-months: every account with usage in a month, plus every known account with a
-- plan (not payg) for every month of the range (so its plan fee is billed without usage),
-- plus the requested {account} itself for every month (payg with no discounts when unknown).
--
-- Exactness: with T tokens, list cost L, billable tokens B (T − quota for plans, T for payg),
-- W = Σ tokens of B in tier × multiplier, fee F and discount factors p, c, e, every line is
-- (exact numerator) / D with D = max(T, 1), computed in Decimal256 and rounded once:
--   usage       = L·W / D                                  (= L_overage × M(overage))
--   prepaid     = (F·D + L·W)·(p − 1) / D
--   contract    = (F·D + L·W)·p·(c − 1) / D
--   educational = (F·D + L·W)·p·c·(e − 1) / D
-- Scales: L 12, W 6, F 15, factors 6 → numerators of scale 18 (usage) to 36 (educational) in
-- Decimal(76, ·), leaving 40 integer digits. The one division truncates at that scale (≥ 18),
-- which cannot move a value across a half-fen boundary (a boundary is representable there),
-- and round(x, 2) on Decimal rounds half away from zero. Never truncate before multiplying.
CREATE VIEW IF NOT EXISTS invoice_base_for AS
SELECT
    account_id,
    month,
    currency,
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
    CAST(round(usage_numerator / denominator, 2) AS Decimal(38, 2)) AS amount_usage,
    if(
        prepaid = 1,
        CAST(round(subtotal_numerator * (toDecimal256(prepaid_factor, 6) - 1) / denominator, 2)
            AS Decimal(38, 2)),
        toDecimal128(0, 2)
    ) AS amount_discount_prepaid,
    if(
        contract = 1,
        CAST(round(subtotal_numerator * toDecimal256(prepaid_factor, 6)
                   * (toDecimal256(contract_factor, 6) - 1) / denominator, 2) AS Decimal(38, 2)),
        toDecimal128(0, 2)
    ) AS amount_discount_contract,
    if(
        educational = 1,
        CAST(round(subtotal_numerator * toDecimal256(prepaid_factor, 6)
                   * toDecimal256(contract_factor, 6)
                   * (toDecimal256(educational_factor, 6) - 1) / denominator, 2)
            AS Decimal(38, 2)),
        toDecimal128(0, 2)
    ) AS amount_discount_educational,
    amount_plan_fee + amount_usage + amount_discount_prepaid + amount_discount_contract
        + amount_discount_educational AS total
FROM
(
    SELECT
        x_month.account_id AS account_id,
        x_month.month AS month,
        x_book.currency AS currency,
        ifNull(x_terms.known, 0) AS known_account,
        if(known_account = 1, x_terms.plan, 'payg') AS plan,
        if(known_account = 1, x_terms.is_payg, 1) AS is_payg,
        x_month.month_tokens AS tokens,
        x_month.month_list_cost AS list_cost,
        x_month.month_events AS events,
        x_month.month_last_date AS last_usage_date,
        if(known_account = 1, x_terms.quota, 0) AS quota,
        if(tokens > quota, tokens - quota, 0) AS billable_tokens,
        if(known_account = 1, x_terms.extra_tokens, 0) AS extra_tokens,
        if(known_account = 1, x_terms.fee, toDecimal128(0, 15)) AS fee,
        if(known_account = 1, x_terms.prepaid, 0) AS prepaid,
        if(known_account = 1, x_terms.contract, 0) AS contract,
        if(known_account = 1, x_terms.educational, 0) AS educational,
        if(known_account = 1, x_terms.prepaid_factor, toDecimal64(1, 6)) AS prepaid_factor,
        if(known_account = 1, x_terms.contract_factor, toDecimal64(1, 6)) AS contract_factor,
        if(known_account = 1, x_terms.educational_factor, toDecimal64(1, 6)) AS educational_factor,
        arraySum(arrayMap(
            (s, e, mult) -> toDecimal256(if(billable_tokens > s, least(billable_tokens, e) - s, 0), 0)
                * toDecimal256(mult, 6),
            x_book.tier_starts, x_book.tier_ends, x_book.tier_multipliers
        )) AS tier_weight,
        greatest(tokens, 1) AS denominator,
        toDecimal256(list_cost, 12) * tier_weight AS usage_numerator,
        toDecimal256(fee, 15) * denominator + usage_numerator AS subtotal_numerator
    FROM
    (
        SELECT
            account_id,
            month,
            sum(u_tokens) AS month_tokens,
            sum(u_cost) AS month_list_cost,
            sum(u_events) AS month_events,
            max(u_last) AS month_last_date
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
    LEFT JOIN account_terms AS x_terms ON x_terms.account_id = x_month.account_id
    CROSS JOIN price_book AS x_book
)
