"""The dead-letter record: the original bytes plus why and where they failed.

A dead letter always fits in one Kafka record (the producers' 1 MB limit): an original too big
to be carried whole with its key is kept truncated, with its size and SHA-256, so the dead
letter itself can never fail because of its payload.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DeadLetterReason = Literal[
    "invalid_json",
    "schema",
    "unknown_model",
    "unknown_region",
    "too_late",
    "invalid_account",
    "warehouse_rejected",  # the warehouse refused the rated row as data (its message says why)
    "ts_out_of_range",
    "unsendable",
]


class DeadLetter(BaseModel):
    """`original_b64` holds the original bytes (all of them unless `original_truncated`);
    `original_text` is a readable copy of its start (UTF-8, lossy). `topic`/`partition`/`offset`
    say where the original came from: a Kafka record, or `file:NAME` with partition -1 and the
    line number as offset for a line `usageflow publish` refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="DeadLetter")

    reason: DeadLetterReason
    message: str
    topic: str
    partition: int
    offset: int
    key: str | None = Field(description="The original key (UTF-8, lossy), its first 1,024 characters.")
    original_b64: str
    original_text: str
    original_size: int = Field(description="Length of the original in bytes, also when truncated.")
    original_sha256: str = Field(description="SHA-256 (hex) of the whole original.")
    original_truncated: bool = Field(
        default=False, description="Only the first bytes are in `original_b64`: the record cannot be replayed."
    )
    failed_at: datetime
