"""The warehouse migrations (NNNN_name.sql), applied in order by `usageflow migrate`."""
