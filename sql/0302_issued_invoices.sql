-- Closing a month, step two: the issued invoices, one row per invoice (everything an invoice is,
-- in one row, so storing one is all or nothing). Rows are only ever added: an issued invoice
-- never changes. A re-run of a killed close stores only the invoices of its run that are
-- missing; if a copy of an invoice is stored twice (two closes racing), readers take the first
-- one written (view invoices_issued).
--
-- The terms the month was billed with are kept with it (plan, quota, fee, discounts, the volume
-- tiers): a later change of the account or of the price book never re-bills an issued month.
-- When the month's usage changes afterwards (late events, re-rated list costs), the view
-- invoice_revisions prices the month's usage now with these terms; the difference is carried
-- once to the account's first open month as an `adjustment` line.
--
-- Lines are parallel arrays, in invoice order: the month's own lines (plan_fee, usage,
-- discount_*), then `adjustment` lines (line_for_month: the issued month they correct), then
-- `credits` (negative: what the grants paid). line_tokens is the billable tokens of the usage
-- line (NULL elsewhere). `charges` = the month's own lines, `adjustments` = the adjustment
-- lines, `credits` = what was drawn (>= 0), `total` = charges + adjustments − credits. The
-- draws are parallel arrays too: grant and amount, in draw order.
-- ORDER BY (month, account_id, written_at): invoices are read by month, then account.
CREATE TABLE IF NOT EXISTS issued_invoices
(
    month               String,
    account_id          String,
    number              String,
    run_id              String,
    issued_at           DateTime64(3, 'UTC'),
    currency            String,
    plan                String,
    tokens              UInt64,
    billable_tokens     UInt64,
    list_cost           Decimal(38, 12),
    events              UInt64,
    is_payg             UInt8,
    quota               UInt64,
    fee                 Decimal(38, 15),
    prepaid             UInt8,
    contract            UInt8,
    educational         UInt8,
    prepaid_factor      Decimal(18, 6),
    contract_factor     Decimal(18, 6),
    educational_factor  Decimal(18, 6),
    tier_starts         Array(UInt64),
    tier_ends           Array(UInt64),
    tier_multipliers    Array(Decimal(18, 6)),
    line_kind           Array(String),
    line_amount         Array(Decimal(38, 2)),
    line_tokens         Array(Nullable(UInt64)),
    line_for_month      Array(String),
    charges             Decimal(38, 2),
    adjustments         Decimal(38, 2),
    credits             Decimal(38, 2),
    total               Decimal(38, 2),
    draw_grant_id       Array(String),
    draw_amount         Array(Decimal(38, 2)),
    written_at          DateTime64(6, 'UTC')
)
ENGINE = MergeTree
ORDER BY (month, account_id, written_at)
