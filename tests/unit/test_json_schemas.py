"""The checked-in JSON Schema files match the models (run `make schemas` after a change)."""

from __future__ import annotations

import pytest

from usageflow.schemas.generate import HERE, RECORDS, render

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_schema_file_is_current(name: str) -> None:
    on_disk = (HERE / name).read_text(encoding="utf-8")
    assert on_disk == render(RECORDS[name]), f"schemas/{name} is stale: run `make schemas`"
