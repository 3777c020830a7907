"""The dead-letter topic as a list of entries, one per failed record, for `usageflow dlq`.

An entry is identified by where its first dead letter sits on the dead-letter topic
(`partition:offset`), never by its source alone: two files of the same name, or two
`usageflow publish -`, are two entries. Dead letters collapse into one entry when they are the
same record failing again:

* the same Kafka record dead-lettered twice (a worker restarted before it committed, or the
  account directory re-reading the accounts topic at each start): same source topic, partition
  and offset;
* a replayed record failing again: `dlq replay` writes a marker to the replays topic for every
  dead letter it re-published, naming where the copy landed on the events topic; a dead letter
  whose source is that copy continues the entry of the one replayed.

An entry whose newest dead letter was replayed is `replayed` (nothing has failed since), and a
second `dlq replay` leaves it alone: replaying is idempotent, entries never multiply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from usageflow.bus.reader import read_topic
from usageflow.config import KafkaSettings, TopicSettings

Coordinates = tuple[int, int]  # (partition, offset) on the dead-letter topic
Source = tuple[str, int, int]  # (topic, partition, offset) of a Kafka record


@dataclass
class DeadLetterEntry:
    first_at: Coordinates
    first: dict[str, Any]
    latest_at: Coordinates
    latest: dict[str, Any]
    dead_letters: list[Coordinates] = field(default_factory=list)
    attempts: int = 1  # the first failure plus one per replayed copy that failed again
    replayed: bool = False

    @property
    def id(self) -> str:
        return f"{self.first_at[0]}:{self.first_at[1]}"

    @property
    def reason(self) -> str:
        return str(self.latest["reason"])

    @property
    def status(self) -> str:
        return "replayed" if self.replayed else "open"

    def origin(self) -> str:
        f = self.first
        return f"{f['topic']}[{f['partition']}]@{f['offset']}"

    def as_json(self) -> dict[str, Any]:
        """The newest dead letter, with the entry's identity and history."""
        return {
            **self.latest,
            "id": self.id,
            "dlq_partition": self.latest_at[0],
            "dlq_offset": self.latest_at[1],
            "origin": {k: self.first[k] for k in ("topic", "partition", "offset")},
            "dead_letters": [f"{p}:{o}" for p, o in self.dead_letters],
            "attempts": self.attempts,
            "status": self.status,
        }


@dataclass
class _Node:
    """One failed Kafka record (or refused line): its dead letters, all copies of one failure."""

    at: list[Coordinates]
    record: dict[str, Any]
    parent: _Node | None = None


def kafka_source(record: dict[str, Any]) -> Source | None:
    """Where a dead letter's original was read from Kafka; None for a line `publish` refused."""
    partition, offset = record.get("partition"), record.get("offset")
    topic = record.get("topic")
    if not isinstance(topic, str) or topic.startswith("file:") or not isinstance(partition, int) or partition < 0:
        return None
    return (topic, partition, offset) if isinstance(offset, int) else None


def build_entries(
    dead_letters: list[tuple[Coordinates, dict[str, Any]]], replays: list[dict[str, Any]]
) -> list[DeadLetterEntry]:
    """Entries from the dead letters (in topic order per partition) and the replay markers."""
    copy_of: dict[Source, Coordinates] = {}  # events-topic copy -> the dead letter replayed
    replayed: set[Coordinates] = set()
    for marker in replays:
        try:
            dl = marker["dead_letter"]
            copy = marker["copy"]
            at = (int(dl["partition"]), int(dl["offset"]))
            copy_of[(str(copy["topic"]), int(copy["partition"]), int(copy["offset"]))] = at
        except (KeyError, TypeError, ValueError):
            continue
        replayed.add(at)
    nodes: list[_Node] = []
    by_source: dict[Source, _Node] = {}
    by_at: dict[Coordinates, _Node] = {}
    for at, record in dead_letters:
        source = kafka_source(record)
        node = by_source.get(source) if source is not None else None
        if node is None:
            node = _Node([], record)
            nodes.append(node)
            if source is not None:
                by_source[source] = node
        node.at.append(at)
        by_at[at] = node
    for node in nodes:
        source = kafka_source(node.record)
        parent_at = copy_of.get(source) if source is not None else None
        parent = by_at.get(parent_at) if parent_at is not None else None
        if parent is not None and parent is not node:
            node.parent = parent
    chains: dict[int, list[_Node]] = {}
    roots: dict[int, _Node] = {}
    for node in nodes:
        root, depth, seen = node, 0, {id(node)}
        while root.parent is not None and id(root.parent) not in seen:
            root = root.parent
            seen.add(id(root))
            depth += 1
        chains.setdefault(id(root), []).append(node)
        roots[id(root)] = root
    entries = []
    for key, chain in chains.items():
        root = roots[key]
        latest = max(chain, key=lambda n: (_depth(n), n.at[0]))
        entries.append(
            DeadLetterEntry(
                first_at=root.at[0],
                first=root.record,
                latest_at=latest.at[0],
                latest=latest.record,
                dead_letters=sorted(at for n in chain for at in n.at),
                attempts=len(chain),
                replayed=any(at in replayed for at in latest.at),
            )
        )
    entries.sort(key=lambda e: e.first_at)
    return entries


def _depth(node: _Node) -> int:
    depth, seen = 0, {id(node)}
    while node.parent is not None and id(node.parent) not in seen:
        node = node.parent
        seen.add(id(node))
        depth += 1
    return depth


def replay_marker(dead_letter: Coordinates, copy: Source) -> bytes:
    """The replays-topic record saying the dead letter at `dead_letter` was re-published to `copy`."""
    return orjson.dumps(
        {
            "dead_letter": {"partition": dead_letter[0], "offset": dead_letter[1]},
            "copy": {"topic": copy[0], "partition": copy[1], "offset": copy[2]},
            "replayed_at": datetime.now(UTC).isoformat(),
        }
    )


def _json_objects(kafka: KafkaSettings, topic: str) -> list[tuple[Coordinates, dict[str, Any]]]:
    found = []
    for msg in read_topic(kafka, topic):
        try:
            value = orjson.loads(msg.value() or b"")
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict):
            found.append(((msg.partition() or 0, msg.offset() or 0), value))
    return found


def read_entries(kafka: KafkaSettings, topics: TopicSettings) -> list[DeadLetterEntry]:
    """Read the dead-letter and replays topics and build the entries."""
    dead_letters = [
        (at, r)
        for at, r in _json_objects(kafka, topics.dlq)
        if isinstance(r.get("reason"), str) and isinstance(r.get("topic"), str)
    ]
    replays = [r for _at, r in _json_objects(kafka, topics.dlq_replays)]
    return build_entries(dead_letters, replays)
