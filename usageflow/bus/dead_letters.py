"""Building dead-letter records (docs/events.md `usage.dlq`)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import cast

import orjson

from usageflow.schemas import DeadLetter, DeadLetterReason


def dead_letter_value(
    reason: str,
    message: str,
    original: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
) -> bytes:
    """JSON value of a dead-letter record: exact original bytes (base64) plus a readable copy."""
    raw = original or b""
    record = DeadLetter(
        reason=cast(DeadLetterReason, reason),
        message=message,
        topic=topic,
        partition=partition,
        offset=offset,
        key=key.decode("utf-8", "replace") if key is not None else None,
        original_b64=base64.b64encode(raw).decode("ascii"),
        original_text=raw[:4096].decode("utf-8", "replace"),
        failed_at=datetime.now(UTC),
    )
    return orjson.dumps(record.model_dump(mode="json"))


def dead_letter_headers(reason: str) -> list[tuple[str, bytes]]:
    return [("usageflow-reason", reason.encode())]
