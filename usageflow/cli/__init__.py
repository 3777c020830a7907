"""The `usageflow` command (cli.md)."""
