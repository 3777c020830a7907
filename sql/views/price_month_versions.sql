-- price_month_versions: per IANA time zone, the (first_month, version) pairs of the current
-- price book's versions, sorted (from price_version_months, written by the loader). The version
-- that bills month M in zone Z is the last pair with first_month <= M (usageflow_month_version_v1
-- picks it); a zone missing here is billed by the first version.
CREATE OR REPLACE VIEW price_month_versions AS
SELECT timezone, arraySort(groupArray((first_month, version))) AS starts
FROM price_version_months
WHERE version IN (SELECT version FROM price_book)
GROUP BY timezone
