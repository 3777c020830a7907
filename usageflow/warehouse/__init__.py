"""The warehouse: one small interface over chDB (embedded) and a ClickHouse server."""

from usageflow.warehouse.client import Warehouse, open_warehouse, parse_warehouse_url

__all__ = ["Warehouse", "open_warehouse", "parse_warehouse_url"]
