"""The dead-letter record: the original bytes plus why and where they failed."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

DeadLetterReason = Literal[
    "invalid_json",
    "schema",
    "unknown_model",
    "unknown_region",
    "too_late",
    "invalid_account",
    "warehouse_rejected",  # the warehouse refused the rated row as data (its message says why)
]


class DeadLetter(BaseModel):
    """`original_b64` holds the exact bytes; `original_text` is a readable copy (UTF-8, lossy)."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="DeadLetter")

    reason: DeadLetterReason
    message: str
    topic: str
    partition: int
    offset: int
    key: str | None
    original_b64: str
    original_text: str
    failed_at: datetime
