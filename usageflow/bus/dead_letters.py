"""Building dead-letter records (docs/events.md `usage.dlq`) that always fit in one Kafka record."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import cast

import orjson

from usageflow.schemas import DeadLetter, DeadLetterReason

# The smallest record limit on the way (librdkafka's message.max.bytes, 1,000,000) less room
# for the record's own overhead and headers.
MAX_DEAD_LETTER_BYTES = 900_000
TEXT_COPY_BYTES = 4096
KEY_TEXT_CHARS = 1024
MESSAGE_CHARS = 1000
# Everything but the base64 copy, escaped at worst (6 bytes per character, \u0000)
_FIXED_ROOM = 6 * (TEXT_COPY_BYTES + KEY_TEXT_CHARS + MESSAGE_CHARS) + 4096


MAX_KEY_BYTES = 4096


def dead_letter_key(key: bytes | None) -> bytes | None:
    """The record key a dead letter is sent with: the original key, or for a key too large to
    carry, `sha256:` and its digest (the original record can still be found by it)."""
    if key is None or len(key) <= MAX_KEY_BYTES:
        return key
    return b"sha256:" + hashlib.sha256(key).hexdigest().encode()


def original_budget(key: bytes | None) -> int:
    """How many bytes of the original a dead letter sent with `key` as its record key can carry."""
    room = MAX_DEAD_LETTER_BYTES - len(key or b"") - _FIXED_ROOM
    return max(0, room // 4 * 3)


def dead_letter_value(
    reason: str,
    message: str,
    original: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
) -> bytes:
    """JSON value of a dead-letter record: the original bytes (base64; truncated when the whole
    record, with `key` as its Kafka key, would not fit) plus a readable copy of their start."""
    raw = original or b""
    kept = raw[: original_budget(key)]
    record = DeadLetter(
        reason=cast(DeadLetterReason, reason),
        message=message[:MESSAGE_CHARS],
        topic=topic,
        partition=partition,
        offset=offset,
        key=key.decode("utf-8", "replace")[:KEY_TEXT_CHARS] if key is not None else None,
        original_b64=base64.b64encode(kept).decode("ascii"),
        original_text=raw[:TEXT_COPY_BYTES].decode("utf-8", "replace"),
        original_size=len(raw),
        original_sha256=hashlib.sha256(raw).hexdigest(),
        original_truncated=len(kept) < len(raw),
        failed_at=datetime.now(UTC),
    )
    return orjson.dumps(record.model_dump(mode="json"))


def dead_letter_headers(reason: str) -> list[tuple[str, bytes]]:
    return [("usageflow-reason", reason.encode())]
