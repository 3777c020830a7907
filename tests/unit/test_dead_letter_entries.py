"""`usageflow dlq`: entries identified by the dead letter's own coordinates, copies and failed
replays collapsed, replay idempotent, listings that never interpret what a record holds."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console

from usageflow.bus.dead_letter_index import build_entries, replay_marker
from usageflow.cli import dlq_cmd
from usageflow.config import KafkaSettings, PathSettings, StreamSettings
from usageflow.streams.source import consumer_config, default_instance_id

pytestmark = pytest.mark.unit


def dl(topic: str, partition: int, offset: int, reason: str = "schema", text: str = "{}") -> dict[str, Any]:
    return {
        "reason": reason,
        "message": "m",
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": "k",
        "original_b64": "e30=",
        "original_text": text,
    }


def marker(dead_letter: tuple[int, int], copy: tuple[str, int, int]) -> dict[str, Any]:
    return orjson.loads(replay_marker(dead_letter, copy))  # type: ignore[no-any-return]


def test_two_files_of_the_same_name_are_two_entries() -> None:
    entries = build_entries([((0, 0), dl("file:e.jsonl", -1, 4)), ((1, 0), dl("file:e.jsonl", -1, 4))], [])
    assert [e.id for e in entries] == ["0:0", "1:0"]


def test_one_kafka_record_dead_lettered_twice_is_one_entry() -> None:
    entries = build_entries([((0, 0), dl("usage.events", 2, 7)), ((0, 5), dl("usage.events", 2, 7))], [])
    assert len(entries) == 1
    assert entries[0].dead_letters == [(0, 0), (0, 5)] and entries[0].attempts == 1


def test_a_replay_that_fails_again_continues_its_entry() -> None:
    first = ((0, 0), dl("file:e.jsonl", -1, 1))
    again = ((3, 9), dl("usage.events", 1, 40, reason="unknown_model"))
    entries = build_entries([first, again], [marker((0, 0), ("usage.events", 1, 40))])
    (entry,) = entries
    assert entry.id == "0:0" and entry.attempts == 2 and entry.status == "open"
    assert entry.reason == "unknown_model" and entry.latest_at == (3, 9)
    assert entry.origin() == "file:e.jsonl[-1]@1"


def test_replayed_entries_stay_one_entry_and_are_not_replayed_twice() -> None:
    """17 -> 17 -> 17: replays and their failures never multiply the entries."""
    dead = [((0, n), dl("file:e.jsonl", -1, n)) for n in range(17)]
    replays: list[dict[str, Any]] = []
    copies = iter(range(1000))
    for _round in range(3):
        entries = build_entries(dead, replays)
        assert len(entries) == 17
        open_entries = [e for e in entries if not e.replayed]
        assert len(open_entries) == 17  # every replayed copy failed again: open again
        for entry in open_entries:
            copy = ("usage.events", 0, next(copies))
            replays.append(marker(entry.latest_at, copy))
        assert all(e.replayed for e in build_entries(dead, replays))  # a second replay sends nothing
        # the worker dead-letters each copy again
        dead += [((1, len(dead) + i), dl("usage.events", 0, m["copy"]["offset"])) for i, m in enumerate(replays[-17:])]
    final = build_entries(dead, replays)
    assert len(final) == 17 and {e.attempts for e in final} == {4}


def test_broken_markers_and_strange_dead_letters_are_tolerated() -> None:
    entries = build_entries(
        [((0, 0), dl("usage.events", 0, 1)), ((0, 1), {**dl("x", 0, 0), "partition": "zero"})],
        [{"dead_letter": "nope"}, {}, {"dead_letter": {"partition": 0, "offset": 0}, "copy": {"topic": "t"}}],
    )
    assert [e.id for e in entries] == ["0:0", "0:1"] and not any(e.replayed for e in entries)


def render(monkeypatch: pytest.MonkeyPatch, text: str) -> str:
    """`dlq list` as a terminal would receive it, for one dead letter holding `text`."""
    buffer = io.StringIO()
    monkeypatch.setattr(dlq_cmd, "console", Console(file=buffer, width=200, force_terminal=True, color_system=None))
    entries = build_entries([((0, 0), {**dl("usage.events", 0, 0, text=text), "message": text})], [])
    monkeypatch.setattr(dlq_cmd, "dead_letter_entries", lambda _ctx: entries)
    dlq_cmd.dlq_list(type("Ctx", (), {"obj": None})(), fmt="table", reason=None)  # type: ignore[arg-type]
    return buffer.getvalue()


def test_markup_in_a_record_is_printed_not_interpreted(monkeypatch: pytest.MonkeyPatch) -> None:
    out = render(monkeypatch, "[/bold] {oops [link=https://example.invalid]x[/link] :smile:")
    assert "[/bold] {oops" in out and "[link=https://example.invalid]x[/link]" in out and ":smile:" in out


def test_escape_sequences_in_a_record_are_shown_not_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    out = render(monkeypatch, "a\x1b[31mred\x1b]8;;http://x\x07b\u202ec\x9bd")
    assert "\x1b[31m" not in out and "\x07" not in out and "\u202e" not in out and "\x9b" not in out
    assert "\\x1b[31mred" in out and "\\u202e" in out and "\\x9b" in out


def test_visible_keeps_ordinary_text() -> None:
    assert dlq_cmd.visible("edu-001 ünïcødé 中文") == "edu-001 ünïcødé 中文"
    assert dlq_cmd.visible("\x00\n\t") == "\\x00\\x0a\\x09"


def test_the_instance_id_is_stable_per_worker_and_differs_between_workers(tmp_path: Path) -> None:
    stream = StreamSettings(http_port=6066)
    paths = PathSettings(data_dir=tmp_path / "a")
    same = default_instance_id("g", StreamSettings(http_port=6066), PathSettings(data_dir=tmp_path / "a"))
    assert default_instance_id("g", stream, paths) == same
    assert default_instance_id("g", StreamSettings(http_port=6067), paths) != same
    assert default_instance_id("g", stream, PathSettings(data_dir=tmp_path / "b")) != same
    assert default_instance_id("g", StreamSettings(instance_id="worker-7"), paths) == "worker-7"
    config = consumer_config(KafkaSettings(), "g", instance_id="worker-7")
    assert config["group.instance.id"] == "worker-7"
    assert config["enable.auto.commit"] is False and config["enable.auto.offset.store"] is False
