"""A provider's own `usage` object -> the token counts of UsageEvent v1 (docs/events.md §2).

Providers count the same request differently. OpenAI-style usage (Chat Completions, the
Responses API, DashScope's OpenAI-compatible mode and its native API) reports the whole prompt
and counts cached prompt tokens *inside* it; Anthropic-style usage reports `input_tokens`
*without* the tokens read from or written to the cache, which come as separate counts. This
module turns each shape into the event's five counts, where the parts are always inside their
whole: `input_tokens` (every prompt token once), `output_tokens`, `cached_input_tokens` and
`cache_write_tokens` (parts of the input), `reasoning_tokens` (part of the output).

Nothing is guessed. A usage object whose shape is not one of those below, that mixes two of
them, or whose counts are not whole numbers ≥ 0 or do not add up is refused with
ValidationFailure (reason `schema`, message starting `provider_usage:`). Keys this module does
not know (`audio_tokens`, `service_tier`, …) are ignored: they never change the five counts.

Shapes (`detect_shape`) and the styles that may send them (`normalise_usage(usage, style)`):

| shape | recognised by | sent by style |
|---|---|---|
| `chat` | `prompt_tokens` / `completion_tokens` | openai, dashscope |
| `responses` | `input_tokens` + `input_tokens_details` / `output_tokens_details` | openai, dashscope |
| `dashscope` | `input_tokens` + `prompt_tokens_details` or a top-level `cached_tokens` | dashscope |
| `anthropic` | `input_tokens` + `cache_read_input_tokens` / `cache_creation_input_tokens` | anthropic |
| `plain` | `input_tokens` / `output_tokens` and nothing else that counts | every style |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from usageflow.errors import ValidationFailure

STYLES = ("openai", "anthropic", "dashscope")
SHAPES_OF_STYLE: dict[str, frozenset[str]] = {
    "openai": frozenset({"chat", "responses", "plain"}),
    "anthropic": frozenset({"anthropic", "plain"}),
    "dashscope": frozenset({"chat", "responses", "dashscope", "plain"}),
}
_SHAPE_NAMES = {
    "chat": "Chat Completions (prompt_tokens/completion_tokens)",
    "responses": "Responses API (input_tokens with input_tokens_details/output_tokens_details)",
    "dashscope": "DashScope native (input_tokens with prompt_tokens_details)",
    "anthropic": "Anthropic (input_tokens without the cache counts)",
    "plain": "input_tokens/output_tokens",
}
_CHAT_KEYS = frozenset({"prompt_tokens", "completion_tokens"})
_IO_KEYS = frozenset({"input_tokens", "output_tokens"})
_ANTHROPIC_KEYS = frozenset({"cache_read_input_tokens", "cache_creation_input_tokens", "cache_creation"})
_INCLUSIVE_KEYS = frozenset({"input_tokens_details", "output_tokens_details", "prompt_tokens_details", "cached_tokens"})


class TokenUsage(NamedTuple):
    """The counts of one request, as UsageEvent v1 carries them (parts inside their whole)."""

    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0


def refuse(message: str) -> ValidationFailure:
    return ValidationFailure("schema", f"provider_usage: {message}")


def detect_shape(usage: Mapping[str, Any]) -> str:
    """Which shape of the table above `usage` has (refused when none, or more than one)."""
    keys = set(usage)
    if keys & _CHAT_KEYS and keys & _IO_KEYS:
        raise refuse("carries both prompt_tokens/completion_tokens and input_tokens/output_tokens")
    if keys & _CHAT_KEYS:
        if keys & _ANTHROPIC_KEYS:
            raise refuse(
                "Anthropic-style cache counts beside prompt_tokens: cannot tell whether prompt_tokens includes them"
            )
        return "chat"
    if not keys & _IO_KEYS:
        raise refuse("no token counts of a known shape (prompt_tokens/completion_tokens or input_tokens/output_tokens)")
    if keys & _ANTHROPIC_KEYS:
        if keys & _INCLUSIVE_KEYS:
            mixed = sorted(keys & _INCLUSIVE_KEYS)[0]
            raise refuse(
                f"Anthropic-style cache counts (not part of input_tokens) beside {mixed} (part of input_tokens): "
                "cannot tell which input_tokens means"
            )
        return "anthropic"
    if keys & {"prompt_tokens_details", "cached_tokens"}:
        return "dashscope"
    if keys & {"input_tokens_details", "output_tokens_details"}:
        return "responses"
    return "plain"


def normalise_usage(usage: object, style: str | None = None) -> TokenUsage:
    """The five counts of a provider's usage object. `style` (`openai`, `anthropic`,
    `dashscope`) is the API the usage came from, checked against the shape; None detects it
    from the shape alone (every shape has one meaning, so detection never guesses)."""
    if style is not None and style not in STYLES:
        raise refuse(f"unknown provider {_show(style)}: use openai, anthropic or dashscope")
    if not isinstance(usage, Mapping):
        raise refuse(f"the usage must be a JSON object, not {_kind(usage)}")
    shape = detect_shape(usage)
    if style is not None and shape not in SHAPES_OF_STYLE[style]:
        raise refuse(f"a {_SHAPE_NAMES[shape]} usage object is not what {style} sends")
    counts = _PARSERS[shape](usage)
    if shape != "anthropic":
        _check_total(usage, counts)
    return counts


def extract_usage(payload: object) -> Mapping[str, Any]:
    """The usage object inside what a client received: a usage object itself; a whole response
    (Chat Completion, Responses API response, Anthropic Message, DashScope response); the final
    chunk of an OpenAI-style stream (`usage` with empty `choices`, sent when the request set
    `stream_options: {"include_usage": true}`); a Responses API `response.completed` event; or
    the list of a stream's chunks, of which exactly one — the last — may carry usage."""
    if isinstance(payload, Sequence) and not isinstance(payload, str | bytes):
        return _usage_of_stream(payload)
    if not isinstance(payload, Mapping):
        raise refuse(f"expected a usage object, a response or a list of stream chunks, not {_kind(payload)}")
    if "usage" in payload:
        usage = payload["usage"]
        if usage is None:
            raise refuse(
                "the response carries no usage (a stream chunk before the last? OpenAI-style streams send usage "
                'only with stream_options: {"include_usage": true}, on the final chunk)'
            )
        choices = payload.get("choices")
        if payload.get("object") == "chat.completion.chunk" and isinstance(choices, list) and choices:
            raise refuse(
                "a stream chunk that still carries choices is not the final usage chunk (that one has empty choices)"
            )
        if not isinstance(usage, Mapping):
            raise refuse(f"usage must be a JSON object, not {_kind(usage)}")
        return usage
    response = payload.get("response")
    if isinstance(response, Mapping) and "usage" in response:  # a Responses API stream event
        if response["usage"] is None:
            raise refuse(f"the {_show(payload.get('type', 'event'))} event carries no usage: use response.completed")
        return extract_usage(response)
    return payload


def _usage_of_stream(chunks: Sequence[object]) -> Mapping[str, Any]:
    if not chunks:
        raise refuse("the stream has no chunks")
    carrying = []
    for index, chunk in enumerate(chunks):
        if not isinstance(chunk, Mapping):
            raise refuse(f"stream chunks must be JSON objects, not {_kind(chunk)}")
        if _carries_usage(chunk):
            carrying.append(index)
    if not carrying:
        raise refuse('no chunk of the stream carries usage (request it with stream_options: {"include_usage": true})')
    if len(carrying) > 1:
        raise refuse(
            f"{len(carrying)} chunks of the stream carry usage: cannot tell cumulative from incremental counts "
            "(pass the final usage only)"
        )
    if carrying[0] != len(chunks) - 1:
        raise refuse("the chunk carrying usage is not the last of the stream: its counts may not be final")
    return extract_usage(chunks[-1])


def _carries_usage(chunk: Mapping[str, Any]) -> bool:
    if chunk.get("usage") is not None:
        return True
    response = chunk.get("response")
    return isinstance(response, Mapping) and response.get("usage") is not None


# --- the shapes ----------------------------------------------------------------------------


def _chat(usage: Mapping[str, Any]) -> TokenUsage:
    """OpenAI Chat Completions (and every OpenAI-compatible API): `prompt_tokens` includes
    `prompt_tokens_details.cached_tokens` (and, with DashScope's explicit cache,
    `prompt_tokens_details.cache_creation_input_tokens`); `completion_tokens` includes
    `completion_tokens_details.reasoning_tokens`."""
    prompt = _required(usage, "prompt_tokens")
    completion = _required(usage, "completion_tokens")
    prompt_details = _details(usage, "prompt_tokens_details")
    cached = _optional(prompt_details, "cached_tokens", "prompt_tokens_details.cached_tokens")
    written = _cache_writes(prompt_details, "prompt_tokens_details")
    completion_details = _details(usage, "completion_tokens_details")
    reasoning = _optional(completion_details, "reasoning_tokens", "completion_tokens_details.reasoning_tokens")
    _within(cached, written, prompt, "prompt_tokens_details", "prompt_tokens")
    _reasoning_within(reasoning, completion, "completion_tokens_details.reasoning_tokens", "completion_tokens")
    return TokenUsage(prompt, completion, cached, written, reasoning)


def _inclusive(usage: Mapping[str, Any]) -> TokenUsage:
    """`input_tokens` includes every cached token: the Responses API
    (`input_tokens_details.cached_tokens`, `output_tokens_details.reasoning_tokens`) and
    DashScope's native API (`prompt_tokens_details.cached_tokens`, or `cached_tokens` at the
    top for some vision models; `prompt_tokens_details.cache_creation_input_tokens`)."""
    given = _required(usage, "input_tokens")
    output = _required(usage, "output_tokens")
    input_details = _details(usage, "input_tokens_details")
    prompt_details = _details(usage, "prompt_tokens_details")
    places = {
        "input_tokens_details.cached_tokens": _optional(
            input_details, "cached_tokens", "input_tokens_details.cached_tokens", None
        ),
        "prompt_tokens_details.cached_tokens": _optional(
            prompt_details, "cached_tokens", "prompt_tokens_details.cached_tokens", None
        ),
        "cached_tokens": _optional(usage, "cached_tokens", "cached_tokens", None),
    }
    found = {where: n for where, n in places.items() if n is not None}
    if len(set(found.values())) > 1:
        first, second = sorted(found)[:2]
        raise refuse(f"cached tokens reported twice and differently: {first} {found[first]}, {second} {found[second]}")
    cached = next(iter(found.values()), 0)
    written = _cache_writes(prompt_details, "prompt_tokens_details")
    output_details = _details(usage, "output_tokens_details")
    reasoning = _optional(output_details, "reasoning_tokens", "output_tokens_details.reasoning_tokens")
    _within(cached, written, given, "cached and cache-creation tokens", "input_tokens")
    _reasoning_within(reasoning, output, "output_tokens_details.reasoning_tokens", "output_tokens")
    return TokenUsage(given, output, cached, written, reasoning)


def _anthropic(usage: Mapping[str, Any]) -> TokenUsage:
    """Anthropic Messages: `input_tokens` are the prompt tokens after the last cache
    breakpoint only; `cache_read_input_tokens` and `cache_creation_input_tokens` are the
    others, so every prompt token is input + cache reads + cache writes. Output has no
    reasoning count (thinking is billed inside `output_tokens`)."""
    uncached = _required(usage, "input_tokens")
    output = _required(usage, "output_tokens")
    read = _optional(usage, "cache_read_input_tokens", "cache_read_input_tokens")
    written = _cache_writes(usage, "usage")
    return TokenUsage(uncached + read + written, output, read, written, 0)


def _plain(usage: Mapping[str, Any]) -> TokenUsage:
    return TokenUsage(_required(usage, "input_tokens"), _required(usage, "output_tokens"))


_PARSERS: dict[str, Callable[[Mapping[str, Any]], TokenUsage]] = {
    "chat": _chat,
    "responses": _inclusive,
    "dashscope": _inclusive,
    "anthropic": _anthropic,
    "plain": _plain,
}


# --- the counts ----------------------------------------------------------------------------


def _cache_writes(holder: Mapping[str, Any], where: str) -> int:
    """`cache_creation_input_tokens`, checked against its breakdown by cache lifetime
    (`cache_creation: {"ephemeral_5m_input_tokens": …, "ephemeral_1h_input_tokens": …}`) when
    both are given; the breakdown's sum when only it is."""
    label = _at(where, "cache_creation_input_tokens")
    total = _optional(holder, "cache_creation_input_tokens", label, None)
    breakdown = holder.get("cache_creation")
    if breakdown is None:
        return total or 0
    by_lifetime = _at(where, "cache_creation")
    if not isinstance(breakdown, Mapping):
        raise refuse(f"{by_lifetime} must be an object, not {_kind(breakdown)}")
    parts = sum(_optional(breakdown, key, f"{by_lifetime}.{str(key)[:60]}") for key in breakdown)
    if total is not None and parts != total:
        raise refuse(f"{by_lifetime} adds up to {parts}, not to {label} ({total})")
    return parts


def _check_total(usage: Mapping[str, Any], counts: TokenUsage) -> None:
    total = _optional(usage, "total_tokens", "total_tokens", None)
    whole = counts.input_tokens + counts.output_tokens
    if total is not None and total != whole:
        raise refuse(f"total_tokens ({total}) is not input + output ({counts.input_tokens} + {counts.output_tokens})")


def _within(cached: int, written: int, whole: int, parts: str, whole_name: str) -> None:
    if cached + written > whole:
        raise refuse(f"{parts}: cached {cached} + cache writes {written} exceed {whole_name} ({whole}), their whole")


def _reasoning_within(reasoning: int, whole: int, part: str, whole_name: str) -> None:
    if reasoning > whole:
        raise refuse(f"{part} ({reasoning}) exceed {whole_name} ({whole}), their whole")


def _required(holder: Mapping[str, Any], key: str) -> int:
    if holder.get(key) is None:
        raise refuse(f"{key} is missing")
    return _count(holder[key], key)


def _optional(holder: Mapping[str, Any], key: str, label: str, default: Any = 0) -> Any:
    """A count that may be absent or null (then `default`): details often are. `label` names
    it in a refusal."""
    value = holder.get(key)
    return default if value is None else _count(value, label)


def _details(usage: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = usage.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise refuse(f"{key} must be an object, not {_kind(value)}")
    return value


def _count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise refuse(f"{where} must be a whole number of tokens, not {_show(value)}")
    if value < 0:
        raise refuse(f"{where} is negative ({value})")
    return value


def _at(where: str, key: str) -> str:
    return key if where == "usage" else f"{where}.{key}"


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return next((name for t, name in names.items() if isinstance(value, t)), type(value).__name__)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
