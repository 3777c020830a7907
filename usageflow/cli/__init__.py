"""The `usageflow` command (docs/cli.md)."""
