-- price_book: every price version of the current price book (the newest load of
-- price_book_versions, docs/pricing.md §11), one row each, with its tiers as parallel arrays
-- (tier_ends[i] = tier_starts[i + 1], the last one 2^64 - 1) for usageflow_tier_weight_v1.
-- effective_from is NULL for a version in force from the beginning of time; price_book_current
-- is the newest version alone. Empty until a price book is loaded
-- (usageflow.billing.tables.load_price_book); every billing view joins it, so they are empty
-- too until then.
-- Served from a snapshot (docs/design.md, "Billing snapshots"): `price_book_computed`
-- computes the rows, the table `price_book_snapshot` holds its last result and
-- `price_book` reads that table. usageflow.billing.snapshots rebuilds the table whenever
-- usageflow writes the price book or an account; migrate rebuilds it whenever this file, or a
-- file it reads, changed.
CREATE OR REPLACE VIEW price_book_computed AS
SELECT
    x_version.version AS version,
    x_version.load_id AS load_id,
    x_version.price_version AS price_version,
    x_version.effective_from AS effective_from,
    x_version.loaded_at AS loaded_at,
    x_version.currency AS currency,
    x_version.billing_timezone AS billing_timezone,
    x_version.base_per_1k AS base_per_1k,
    x_version.default_region_multiplier AS default_region_multiplier,
    x_version.off_peak_start_hour AS off_peak_start_hour,
    x_version.off_peak_end_hour AS off_peak_end_hour,
    x_version.off_peak_multiplier AS off_peak_multiplier,
    x_version.prepaid_factor AS prepaid_factor,
    x_version.contract_factor AS contract_factor,
    x_version.contract_min_months AS contract_min_months,
    x_version.educational_factor AS educational_factor,
    x_version.extra_tokens_per_1k AS extra_tokens_per_1k,
    x_version.extra_concurrent_each AS extra_concurrent_each,
    x_version.off_peak_shiftable_share AS off_peak_shiftable_share,
    x_version.light_model AS light_model,
    x_version.light_eligible_features AS light_eligible_features,
    x_tiers.tiers AS tiers,
    arrayMap(x -> x.1, tiers) AS tier_starts,
    arrayPushBack(arrayPopFront(arrayMap(x -> x.1, tiers)), toUInt64('18446744073709551615'))
        AS tier_ends,
    arrayMap(x -> x.2, tiers) AS tier_multipliers
FROM price_book_versions AS x_version
INNER JOIN
(
    SELECT version, arraySort(groupArray((start, multiplier))) AS tiers
    FROM price_tiers
    GROUP BY version
) AS x_tiers ON x_tiers.version = x_version.version
WHERE x_version.load_id = (SELECT max(load_id) FROM price_book_versions);

CREATE OR REPLACE TABLE price_book_snapshot ENGINE = MergeTree ORDER BY tuple()
AS SELECT * FROM price_book_computed;

CREATE OR REPLACE VIEW price_book AS SELECT * FROM price_book_snapshot
