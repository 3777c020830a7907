-- Billing terms of every known account under the current price book (docs/pricing.md §4–5):
-- quota and fee including custom-plan additions, and the discount factors that apply
-- (1 where a discount does not apply). An account whose plan is not in the price book is
-- billed as payg (keeping its discounts). Accounts missing here are billed payg with no
-- discounts by the invoice views.
CREATE VIEW IF NOT EXISTS account_terms AS
SELECT
    x_account.account_id AS account_id,
    x_plan.plan != '' AS plan_known,
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
    toUInt8(1) AS known
FROM accounts_current AS x_account
CROSS JOIN price_book AS x_book
LEFT JOIN plan_options AS x_plan ON x_plan.plan = x_account.plan
