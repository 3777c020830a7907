"""The Faust stream processor: agents only move data; the logic lives in `usageflow`."""
