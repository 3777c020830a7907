-- cost_hints: cost optimisation hints per account and billing month (report only; at
-- list price, before tiers and discounts). One row per hint that concerns any tokens:
--   off_peak    peak-hour list cost × (1 − off-peak multiplier) × shiftable share;
--               tokens_affected = peak tokens × shiftable share (rounded)
--   light_model list cost of flagship-model tokens of light-eligible features ×
--               (1 − light model multiplier ÷ that model's multiplier)
--   region      list cost minus what it would be in the cheapest region of the price book
-- saving is rounded to 0.01 (half away from zero) once, after the exact sum.
CREATE OR REPLACE VIEW cost_hints AS
SELECT account_id, month, hint, tokens_affected, saving
FROM
(
    SELECT
        toString(x_usage.account_id) AS account_id,
        toString(x_usage.billing_month) AS month,
        'off_peak' AS hint,
        toUInt64(round(toDecimal256(sum(x_usage.tokens), 0)
                       * toDecimal256(any(x_book.off_peak_shiftable_share), 6), 0)) AS tokens_affected,
        CAST(round(toDecimal256(sum(x_usage.list_cost), 12)
                   * toDecimal256(1 - any(x_book.off_peak_multiplier), 6)
                   * toDecimal256(any(x_book.off_peak_shiftable_share), 6), 2) AS Decimal(38, 2))
            AS saving,
        sum(x_usage.tokens) AS concerned_tokens
    FROM usage_breakdown AS x_usage
    CROSS JOIN price_book_current AS x_book
    WHERE x_usage.off_peak = 0
    GROUP BY account_id, month

    UNION ALL

    SELECT
        account_id,
        month,
        'light_model' AS hint,
        sum(model_tokens) AS tokens_affected,
        CAST(round(sum(model_saving), 2) AS Decimal(38, 2)) AS saving,
        sum(model_tokens) AS concerned_tokens
    FROM
    (
        SELECT
            toString(x_usage.account_id) AS account_id,
            toString(x_usage.billing_month) AS month,
            sum(x_usage.tokens) AS model_tokens,
            toDecimal256(sum(x_usage.list_cost), 12)
                * toDecimal256(any(x_flagship.multiplier) - any(x_light.multiplier), 12)
                / toDecimal256(any(x_flagship.multiplier), 12) AS model_saving
        FROM usage_breakdown AS x_usage
        CROSS JOIN price_book_current AS x_book
        INNER JOIN
        (
            SELECT model, multiplier FROM price_models
            WHERE version = (SELECT max(version) FROM price_book_versions) AND flagship = 1
        ) AS x_flagship ON x_flagship.model = x_usage.model
        INNER JOIN
        (
            SELECT model, multiplier FROM price_models
            WHERE version = (SELECT max(version) FROM price_book_versions)
        ) AS x_light ON x_light.model = x_book.light_model
        WHERE has(x_book.light_eligible_features, toString(x_usage.feature)) AND x_usage.model != x_book.light_model
        GROUP BY account_id, month, x_usage.model
    )
    GROUP BY account_id, month

    UNION ALL

    SELECT
        account_id,
        month,
        'region' AS hint,
        sum(rm_tokens) AS tokens_affected,
        CAST(round(sum(rm_saving), 2) AS Decimal(38, 2)) AS saving,
        sum(rm_tokens) AS concerned_tokens
    FROM
    (
        SELECT
            toString(x_usage.account_id) AS account_id,
            toString(x_usage.billing_month) AS month,
            sum(x_usage.tokens) AS rm_tokens,
            toDecimal256(sum(x_usage.list_cost), 12)
                * toDecimal256(x_usage.region_multiplier - any(x_cheapest.cheapest), 12)
                / toDecimal256(x_usage.region_multiplier, 12) AS rm_saving
        FROM usage_breakdown AS x_usage
        CROSS JOIN
        (
            SELECT min(multiplier) AS cheapest FROM price_regions
            WHERE version = (SELECT max(version) FROM price_book_versions)
            HAVING count() > 0
        ) AS x_cheapest
        WHERE x_usage.region_multiplier > x_cheapest.cheapest
        GROUP BY account_id, month, x_usage.region_multiplier
    )
    GROUP BY account_id, month
)
WHERE concerned_tokens > 0
