"""BoundText binds exactly like a str parameter, only faster (usageflow.warehouse.client)."""

from __future__ import annotations

from clickhouse_connect.driver.binding import format_bind_value
from hypothesis import given
from hypothesis import strategies as st

from usageflow.warehouse.client import BoundText


@given(st.text())
def test_bound_text_formats_like_a_str_parameter(text: str) -> None:
    assert format_bind_value(BoundText(text)) == format_bind_value(text)


def test_hostile_characters_are_escaped() -> None:
    assert format_bind_value(BoundText("a'b\\c`d\te\nf")) == "a\\'b\\\\c\\`d\\\te\\\nf"
