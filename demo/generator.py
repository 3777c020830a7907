"""A deterministic generator of realistic usage streams, shared by the demo, tests and benchmarks.

Same seed, same events: accounts on every plan, skewed key popularity (a few keys do most of the
work), bursts, peak and off-peak hours, duplicates (producer retries), late and bad records.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

MODELS = (("qwen-max", 0.5), ("qwen-plus", 0.3), ("qwen-turbo", 0.2))
REGIONS = (("us-west", 0.5), ("eu-central", 0.2), ("ap-southeast", 0.2), (None, 0.1))
FEATURES = ("code_completion", "error_diagnosis", "explanation", "performance_tuning")
BAD_LINES = (
    b"{not json",
    b'{"schema_version": 1, "event_id": "x"}',
    b"[1, 2, 3]",
    b'{"schema_version": 1, "event_id": "bad-model", "account_id": "edu-001", "api_key_id": "k",'
    b' "model": "gpt-unknown", "input_tokens": 1, "output_tokens": 1,'
    b' "ts": "2026-11-01T00:00:00Z", "latency_ms": 5}',
)


@dataclass(frozen=True)
class StreamShape:
    accounts: tuple[str, ...] = ("edu-001", "edu-002", "edu-003", "bootcamp-la", "tutor-payg")
    keys_per_account: int = 8
    start: datetime = datetime(2026, 11, 1, tzinfo=UTC)
    span: timedelta = timedelta(days=27)
    duplicate_rate: float = 0.0
    bad_rate: float = 0.0
    late_rate: float = 0.0
    mean_tokens: int = 1500


def _pick(rng: random.Random, weighted: tuple[tuple[object, float], ...]) -> object:
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def generate_events(count: int, shape: StreamShape = StreamShape(), seed: int = 7) -> Iterator[dict[str, object]]:
    """`count` distinct events in event-time order (before duplicates/late/bad are mixed in)."""
    rng = random.Random(seed)
    step = shape.span / max(count, 1)
    account_weights = [1 / (i + 1) for i in range(len(shape.accounts))]
    for n in range(count):
        account = rng.choices(shape.accounts, weights=account_weights)[0]
        key_rank = min(int(rng.paretovariate(1.2)) - 1, shape.keys_per_account - 1)
        ts = shape.start + step * n + timedelta(seconds=rng.random() * 30)
        input_tokens = max(1, int(rng.expovariate(1 / shape.mean_tokens)))
        event: dict[str, object] = {
            "schema_version": 1,
            "event_id": f"evt-{seed}-{n:09d}",
            "account_id": account,
            "api_key_id": f"{account}-key-{key_rank}",
            "model": _pick(rng, MODELS),
            "input_tokens": input_tokens,
            "output_tokens": max(0, int(input_tokens * rng.uniform(0.2, 1.5))),
            "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "latency_ms": int(rng.lognormvariate(7, 0.6)),
            "feature": rng.choice(FEATURES),
            "user_id": f"student-{rng.randrange(500)}",
        }
        region = _pick(rng, REGIONS)
        if region is not None:
            event["region"] = region
        yield event


def generate_lines(count: int, shape: StreamShape = StreamShape(), seed: int = 7) -> Iterator[bytes]:
    """JSON lines with the shape's share of duplicates, late re-sends and bad records."""
    rng = random.Random(seed + 1)
    recent: list[bytes] = []
    for event in generate_events(count, shape, seed):
        line = orjson.dumps(event)
        yield line
        recent.append(line)
        if len(recent) > 1000:
            recent.pop(0)
        if rng.random() < shape.duplicate_rate:
            yield rng.choice(recent)
        if rng.random() < shape.bad_rate:
            yield rng.choice(BAD_LINES)


# demo/events.jsonl, shipped for the quickstart (`usageflow sample events`): November 2026 for the
# demo accounts, with producer retries (duplicates) and a few bad lines. Regenerate with
# `python -m usageflow.demo.generator > demo/events.jsonl`; a unit test checks the file matches.
SAMPLE_EVENTS = 3000
SAMPLE_SHAPE = StreamShape(duplicate_rate=0.01, bad_rate=0.003)
SAMPLE_SEED = 2026


def sample_event_lines() -> Iterator[bytes]:
    return generate_lines(SAMPLE_EVENTS, SAMPLE_SHAPE, SAMPLE_SEED)


if __name__ == "__main__":
    import sys

    for sample_line in sample_event_lines():
        sys.stdout.buffer.write(sample_line + b"\n")
