-- Price versions (docs/pricing.md §11): a price book file holds versions, each in force from its
-- `effective_from`. A load writes one row per version here (and that version's plans, tiers,
-- models and regions under its own `version` number), all with the same `load_id` (the first
-- version number of the load); the views read the versions of the newest load. Rows written
-- before versions existed are each their own load, in force from the beginning of time.
-- price_version: the label rated events record (`effective_from` in UTC, or 'initial').
ALTER TABLE price_book_versions ADD COLUMN IF NOT EXISTS load_id UInt64 DEFAULT version;
ALTER TABLE price_book_versions ADD COLUMN IF NOT EXISTS effective_from Nullable(DateTime64(3, 'UTC'));
ALTER TABLE price_book_versions ADD COLUMN IF NOT EXISTS price_version String DEFAULT 'initial';
-- Token-type prices (docs/pricing.md §10), resolved: defaults already applied by the loader.
ALTER TABLE price_models ADD COLUMN IF NOT EXISTS cached_input_per_1k Decimal(38, 12) DEFAULT input_per_1k;
ALTER TABLE price_models ADD COLUMN IF NOT EXISTS cache_write_per_1k Decimal(38, 12) DEFAULT input_per_1k;
ALTER TABLE price_models ADD COLUMN IF NOT EXISTS reasoning_per_1k Decimal(38, 12) DEFAULT output_per_1k
