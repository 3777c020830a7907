"""Provider usage -> the event's token counts: the documented shapes, the refusals, the streams,
and a round trip from counts through each provider's way of reporting them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fixtures import provider_usage as docs
from usageflow.errors import ValidationFailure
from usageflow.pricing.price_book import PriceBook, price_book_from_data
from usageflow.pricing.rating import rate_event
from usageflow.schemas import UsageEvent
from usageflow.schemas.decode import decode_event
from usageflow.schemas.provider_event import convert_line, with_provider_usage
from usageflow.schemas.provider_usage import TokenUsage, detect_shape, extract_usage, normalise_usage

pytestmark = pytest.mark.unit


# (fixture, style, expected counts worked out from the provider's documentation)
DOCUMENTED = [
    # OpenAI: the parts are inside prompt_tokens / completion_tokens already.
    (docs.OPENAI_CHAT, "openai", TokenUsage(2006, 300, 1920, 0, 192)),
    (docs.OPENAI_RESPONSES, "openai", TokenUsage(12033, 1186, 11904, 0, 1024)),
    # Anthropic: input = 50 uncached + 100,000 read + 248 written.
    (docs.ANTHROPIC, "anthropic", TokenUsage(100298, 503, 100000, 248, 0)),
    # DashScope compatible mode: as OpenAI; explicit cache writes are part of prompt_tokens.
    (docs.DASHSCOPE_COMPATIBLE, "dashscope", TokenUsage(3019, 104, 2048, 0, 0)),
    (docs.DASHSCOPE_EXPLICIT_CACHE, "dashscope", TokenUsage(1618, 120, 0, 1605, 0)),
    (docs.DASHSCOPE_THINKING, "dashscope", TokenUsage(24, 1090, 0, 0, 845)),
    # DashScope native: cached tokens are part of input_tokens, wherever they are reported.
    (docs.DASHSCOPE_NATIVE, "dashscope", TokenUsage(3019, 101, 2048, 0, 0)),
    (docs.DASHSCOPE_NATIVE_VISION, "dashscope", TokenUsage(1292, 87, 1152, 0, 0)),
]


@pytest.mark.parametrize(("usage", "style", "expected"), DOCUMENTED)
def test_documented_shapes(usage: dict[str, Any], style: str, expected: TokenUsage) -> None:
    assert normalise_usage(usage, style) == expected
    assert normalise_usage(usage) == expected  # the shape alone says the same


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (docs.OPENAI_STREAM, TokenUsage(1117, 46, 1024, 0, 0)),
        (docs.OPENAI_STREAM[-1], TokenUsage(1117, 46, 1024, 0, 0)),  # the final chunk alone
        (docs.DASHSCOPE_STREAM, TokenUsage(22, 17, 0, 0, 0)),  # null details are no details
        (docs.OPENAI_RESPONSES_COMPLETED, TokenUsage(12033, 1186, 11904, 0, 1024)),
        ([{"type": "response.created", "response": {"usage": None}}, docs.OPENAI_RESPONSES_COMPLETED], None),
        (docs.ANTHROPIC_MESSAGE, TokenUsage(100298, 503, 100000, 248, 0)),
        (docs.DASHSCOPE_NATIVE_RESPONSE, TokenUsage(3019, 101, 2048, 0, 0)),
    ],
)
def test_responses_and_streams(payload: Any, expected: TokenUsage | None) -> None:
    want = expected or TokenUsage(12033, 1186, 11904, 0, 1024)
    assert normalise_usage(extract_usage(payload)) == want


def test_shapes_are_named() -> None:
    assert detect_shape(docs.OPENAI_CHAT) == "chat"
    assert detect_shape(docs.OPENAI_RESPONSES) == "responses"
    assert detect_shape(docs.ANTHROPIC) == "anthropic"
    assert detect_shape(docs.DASHSCOPE_NATIVE) == "dashscope"
    assert detect_shape(docs.DASHSCOPE_NATIVE_VISION) == "dashscope"
    assert detect_shape({"input_tokens": 5, "output_tokens": 7}) == "plain"


@pytest.mark.parametrize(
    ("usage", "style", "says"),
    [
        (docs.ANTHROPIC, "openai", "is not what openai sends"),
        (docs.OPENAI_CHAT, "anthropic", "is not what anthropic sends"),
        (docs.DASHSCOPE_NATIVE, "openai", "is not what openai sends"),
        (docs.OPENAI_RESPONSES, "anthropic", "is not what anthropic sends"),
        (docs.OPENAI_CHAT, "azure", "unknown provider 'azure'"),
    ],
)
def test_a_declared_style_must_match_the_shape(usage: dict[str, Any], style: str, says: str) -> None:
    with pytest.raises(ValidationFailure) as err:
        normalise_usage(usage, style)
    assert err.value.reason == "schema"
    assert says in err.value.message and err.value.message.startswith("provider_usage: ")


@pytest.mark.parametrize(
    ("usage", "says"),
    [
        ({"prompt_tokens": -1, "completion_tokens": 2}, "prompt_tokens is negative (-1)"),
        ({"prompt_tokens": 10.0, "completion_tokens": 2}, "prompt_tokens must be a whole number of tokens, not 10.0"),
        ({"prompt_tokens": "10", "completion_tokens": 2}, "not '10'"),
        ({"prompt_tokens": True, "completion_tokens": 2}, "not True"),
        ({"prompt_tokens": 10}, "completion_tokens is missing"),
        ({"prompt_tokens": None, "completion_tokens": 2}, "prompt_tokens is missing"),
        (
            {"prompt_tokens": 10, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 11}},
            "cached 11 + cache writes 0 exceed prompt_tokens (10)",
        ),
        (
            {
                "prompt_tokens": 10,
                "completion_tokens": 2,
                "prompt_tokens_details": {"cached_tokens": 6, "cache_creation_input_tokens": 5},
            },
            "cached 6 + cache writes 5 exceed prompt_tokens (10)",
        ),
        (
            {"prompt_tokens": 10, "completion_tokens": 2, "completion_tokens_details": {"reasoning_tokens": 3}},
            "reasoning_tokens (3) exceed completion_tokens (2)",
        ),
        (
            {"input_tokens": 10, "output_tokens": 2, "output_tokens_details": {"reasoning_tokens": 3}},
            "reasoning_tokens (3) exceed output_tokens (2)",
        ),
        ({"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 13}, "total_tokens (13) is not input + output"),
        ({"input_tokens": 10, "output_tokens": 2, "total_tokens": 11}, "total_tokens (11) is not input + output"),
        (
            {"prompt_tokens": 10, "completion_tokens": 2, "cache_read_input_tokens": 4},
            "cannot tell whether prompt_tokens includes them",
        ),
        (
            {"input_tokens": 10, "output_tokens": 2, "cache_read_input_tokens": 4, "input_tokens_details": {}},
            "cannot tell which input_tokens means",
        ),
        ({"prompt_tokens": 10, "output_tokens": 2}, "carries both"),
        ({"tokens": 12}, "no token counts of a known shape"),
        (
            {"input_tokens": 9, "output_tokens": 1, "input_tokens_details": {"cached_tokens": 4}, "cached_tokens": 5},
            "cached tokens reported twice and differently",
        ),
        (
            {"input_tokens": 1, "output_tokens": 1, "cache_creation_input_tokens": 5, "cache_creation": {"a": 4}},
            "cache_creation adds up to 4, not to cache_creation_input_tokens (5)",
        ),
        ({"input_tokens": 1, "output_tokens": 1, "cache_read_input_tokens": -2}, "cache_read_input_tokens is negative"),
        ({"prompt_tokens": 1, "completion_tokens": 1, "prompt_tokens_details": [1]}, "must be an object, not a list"),
        ([1, 2], "stream chunks must be JSON objects"),
        ("usage", "not a string"),
    ],
)
def test_inconsistent_usage_is_refused(usage: Any, says: str) -> None:
    with pytest.raises(ValidationFailure) as err:
        normalise_usage(extract_usage(usage) if isinstance(usage, list | str) else usage)
    assert err.value.reason == "schema"
    assert says in err.value.message, err.value.message


def test_the_breakdown_alone_gives_the_cache_writes() -> None:
    usage = {"input_tokens": 1, "output_tokens": 1, "cache_creation": {"ephemeral_1h_input_tokens": 30}}
    assert normalise_usage(usage, "anthropic") == TokenUsage(31, 1, 0, 30, 0)


def test_duplicate_cached_counts_that_agree_are_accepted() -> None:
    usage = {"input_tokens": 9, "output_tokens": 1, "prompt_tokens_details": {"cached_tokens": 4}, "cached_tokens": 4}
    assert normalise_usage(usage, "dashscope") == TokenUsage(9, 1, 4, 0, 0)


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (docs.OPENAI_STREAM[:2], "no chunk of the stream carries usage"),
        ([docs.OPENAI_STREAM[-1], docs.OPENAI_STREAM[-1]], "2 chunks of the stream carry usage"),
        ([docs.OPENAI_STREAM[-1], docs.OPENAI_STREAM[0]], "is not the last of the stream"),
        (docs.OPENAI_STREAM[0], "carries no usage"),
        ({**docs.OPENAI_STREAM[0], "usage": docs.OPENAI_CHAT}, "still carries choices"),
        ({"type": "response.in_progress", "response": {"usage": None}}, "use response.completed"),
        ([], "the stream has no chunks"),
    ],
)
def test_streams_give_their_final_usage_only(payload: Any, says: str) -> None:
    with pytest.raises(ValidationFailure) as err:
        extract_usage(payload)
    assert says in err.value.message


# --- a round trip: counts -> each provider's report of them -> the same counts ---------------

counts_st = st.tuples(
    st.integers(0, 50_000), st.integers(0, 50_000), st.integers(0, 50_000), st.integers(0, 20_000), st.integers(0, 9)
)


def reports(counts: tuple[int, int, int, int, int]) -> list[tuple[str, dict[str, Any], TokenUsage]]:
    """One request (uncached, cache-read and cache-written prompt tokens, visible and reasoning
    output tokens) as each provider documents it (tests/fixtures/provider_usage.py), with the
    counts it must give: OpenAI reports no cache writes (they are plain prompt tokens there),
    Anthropic no reasoning."""
    uncached, read, written, visible, reasoning = counts
    prompt = uncached + read + written
    completion = visible + reasoning
    full = TokenUsage(prompt, completion, read, written, reasoning)
    return [
        (
            "openai",
            {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": read},
                "completion_tokens_details": {"reasoning_tokens": reasoning},
            },
            full._replace(cache_write_tokens=0),
        ),
        (
            "openai",
            {
                "input_tokens": prompt,
                "input_tokens_details": {"cached_tokens": read},
                "output_tokens": completion,
                "output_tokens_details": {"reasoning_tokens": reasoning},
                "total_tokens": prompt + completion,
            },
            full._replace(cache_write_tokens=0),
        ),
        (
            "anthropic",
            {
                "input_tokens": uncached,
                "cache_read_input_tokens": read,
                "cache_creation_input_tokens": written,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": written // 2,
                    "ephemeral_1h_input_tokens": written - written // 2,
                },
                "output_tokens": completion,
            },
            full._replace(reasoning_tokens=0),
        ),
        (
            "dashscope",
            {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": read, "cache_creation_input_tokens": written},
                "completion_tokens_details": {"reasoning_tokens": reasoning},
            },
            full,
        ),
        (
            "dashscope",
            {
                "input_tokens": prompt,
                "output_tokens": completion,
                "prompt_tokens_details": {"cached_tokens": read, "cache_creation_input_tokens": written},
                "output_tokens_details": {"reasoning_tokens": reasoning},
                "total_tokens": prompt + completion,
            },
            full,
        ),
    ]


@given(counts_st)
def test_every_report_of_a_request_gives_its_counts(counts: tuple[int, int, int, int, int]) -> None:
    for style, usage, want in reports(counts):
        got = normalise_usage(usage, style)
        assert got == want, (style, usage)
        assert normalise_usage(usage) == want  # detected, the same
        assert got.cached_input_tokens + got.cache_write_tokens <= got.input_tokens
        assert got.reasoning_tokens <= got.output_tokens


# --- events carrying provider usage -----------------------------------------------------------


def event(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "schema_version": 1,
        "event_id": "evt-1",
        "account_id": "edu-001",
        "api_key_id": "key-1",
        "model": "qwen-max",
        "ts": "2026-11-10T14:00:00+08:00",
        "latency_ms": 900,
    }
    base.update(over)
    return base


def test_an_event_gets_its_counts_and_keeps_only_the_usage_object() -> None:
    out = with_provider_usage(event(provider="anthropic", provider_usage=docs.ANTHROPIC_MESSAGE))
    assert (out["input_tokens"], out["output_tokens"]) == (100298, 503)
    assert (out["cached_input_tokens"], out["cache_write_tokens"], out["reasoning_tokens"]) == (100000, 248, 0)
    assert out["provider_usage"] == docs.ANTHROPIC  # the message's text is not kept
    assert out["provider"] == "anthropic"


def test_counts_the_event_gives_must_agree() -> None:
    agreeing = event(provider_usage=docs.OPENAI_CHAT, input_tokens=2006, reasoning_tokens=192)
    assert with_provider_usage(agreeing)["cached_input_tokens"] == 1920
    with pytest.raises(ValidationFailure, match=r"input_tokens \(2000\) disagrees with its provider usage \(2006\)"):
        with_provider_usage(event(provider_usage=docs.OPENAI_CHAT, input_tokens=2000))
    with pytest.raises(ValidationFailure, match="disagrees"):
        with_provider_usage(event(provider_usage=docs.OPENAI_CHAT, input_tokens=True))
    with pytest.raises(ValidationFailure, match="provider must be"):
        with_provider_usage(event(provider_usage=docs.OPENAI_CHAT, provider=3))


def test_a_null_provider_usage_is_no_provider_usage() -> None:
    plain = event(input_tokens=3, output_tokens=4, provider_usage=None, provider="whatever")
    assert with_provider_usage(plain) == plain


def test_lines_without_provider_usage_pass_unchanged() -> None:
    raw = json.dumps(event(input_tokens=3, output_tokens=4, note="provider_usage is in a value")).encode()
    assert convert_line(raw) is raw
    assert convert_line(b"{broken") == b"{broken"
    in_a_value = json.dumps(event(input_tokens=3, output_tokens=4, note='"provider_usage"')).encode()
    assert convert_line(in_a_value) == in_a_value


def test_a_converted_line_is_a_valid_event() -> None:
    raw = json.dumps(event(provider="dashscope", provider_usage=docs.DASHSCOPE_STREAM)).encode()
    parsed = decode_event(convert_line(raw))
    assert (parsed.input_tokens, parsed.output_tokens, parsed.cached_input_tokens) == (22, 17, 0)
    assert parsed.model_extra == {"provider": "dashscope", "provider_usage": docs.DASHSCOPE_STREAM[-1]["usage"]}


def test_a_converted_line_still_refuses_duplicates_and_oversized_counts() -> None:
    dup = b'{"provider_usage": {"prompt_tokens": 1, "prompt_tokens": 9, "completion_tokens": 1}}'
    with pytest.raises(ValidationFailure, match="duplicate key"):
        convert_line(dup)
    huge = {"input_tokens": 9_000_000, "cache_read_input_tokens": 2_000_000, "output_tokens": 1}
    converted = convert_line(json.dumps(event(provider_usage=huge)).encode())
    with pytest.raises(ValidationFailure) as err:
        decode_event(converted)
    assert err.value.reason == "schema" and "input_tokens" in err.value.message


# --- docs/pricing.md §10, the worked example ------------------------------------------------


def test_pricing_md_token_type_example() -> None:
    entry = {
        "flagship": True,
        "input_per_1k": "0.006",
        "cached_input_per_1k": "0.0012",
        "cache_write_per_1k": "0.0075",
        "output_per_1k": "0.012",
        "reasoning_per_1k": "0.024",
    }
    book = price_book_from_data({"models": {"qwen-max": entry, "qwen-plus": {"multiplier": "0.8"}}})
    anthropic = {"input_tokens": 50, "cache_read_input_tokens": 100000, "cache_creation_input_tokens": 248}
    openai = {
        "prompt_tokens": 60000,
        "completion_tokens": 20000,
        "prompt_tokens_details": {"cached_tokens": 50000},
        "completion_tokens_details": {"reasoning_tokens": 15000},
    }
    peak = datetime(2026, 11, 10, 4, tzinfo=UTC)  # 12:00 Asia/Shanghai
    costs = []
    for usage in ({**anthropic, "output_tokens": 503}, openai):
        fields = event(provider_usage=usage, ts=peak.isoformat(), region="us-west")
        costs.append(rate_event(UsageEvent.model_validate(with_provider_usage(fields)), None, book).list_cost)
    assert costs == [Decimal("0.128196"), Decimal("0.54")]
    plain = UsageEvent.model_validate(
        with_provider_usage(
            event(provider_usage={**anthropic, "output_tokens": 503}, ts=peak.isoformat(), region="us-west")
        )
    )
    assert rate_event(plain, None, PriceBook()).list_cost == Decimal("0.604806")  # the built-in book
